import pino, { type Logger } from 'pino';

/** The worker's structured logger (JSON lines on stderr). Query parameters are never logged. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { app: 'pgferry' } }, pino.destination(2));
}
