import { writeFile } from 'node:fs/promises';
import type { PgferryClient } from '../pgferry-client';
import { packageVersion } from '../version';
import { renderReportHtml } from './html';
import { renderReportMarkdown } from './markdown';
import { reportFromTimeline, type MigrationReport } from './model';

/** Where a report goes: an HTML page, a Markdown file, or both (absolute paths). */
export interface ReportFiles {
  html?: string;
  md?: string;
}

/** Builds a workflow's report from its history and writes the files asked for; returns the report, its Markdown and the files. */
export async function writeReport(
  client: PgferryClient,
  id: string,
  files: ReportFiles,
): Promise<{ report: MigrationReport; markdown: string; files: ReportFiles }> {
  const report = reportFromTimeline(await client.history(id));
  const ctx = { generatedAt: new Date().toISOString(), version: packageVersion() };
  const markdown = renderReportMarkdown(report, ctx);
  if (files.html) await writeFile(files.html, renderReportHtml(report, ctx));
  if (files.md) await writeFile(files.md, markdown);
  return { report, markdown, files };
}
