# The pgferry CLI and worker:  docker build -t pgferry .  &&  docker run pgferry worker

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build runs below.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY types ./types
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY client ./client
RUN npm run build

FROM node:20-bookworm-slim
# pg_dump must be at least as new as the server it dumps, and Debian's own client is 15: take the
# client from the PostgreSQL project's repository, as new as the newest server in docker-compose.yml.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-common \
 && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
 && apt-get install -y --no-install-recommends postgresql-client-17 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# Named volumes copy the ownership of the directory they mount over, so these stay writable by node.
RUN mkdir -p /backups /var/lib/pgferry && chown node:node /backups /var/lib/pgferry
ENV PGFERRY_STATE_DIR=/var/lib/pgferry
USER node
ENTRYPOINT ["node", "bin/pgferry.js"]
CMD ["--help"]
