// dtls-probe output helpers: colors only on a TTY (and never with NO_COLOR),
// aligned "label  value" lines, and one-line renderings of OpenSSL entries.
import { shortSourcePath, type OpenSSLErrorEntry } from '../errors';
import type { Explanation } from '../explain';

export interface Style {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

export function style(stream: NodeJS.WriteStream): Style {
  const on = stream.isTTY === true && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
  const paint = (code: string) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { green: paint('32'), red: paint('31'), yellow: paint('33'), dim: paint('2'), bold: paint('1') };
}

/** The width every label is padded to, so values line up in a column. */
export const LABEL_WIDTH = 12;

/** "      label       value" (continuation lines of a multi-line value are indented to the value column). */
export function line(label: string, value: string, indent = 6): string {
  const pad = ' '.repeat(indent);
  const [first, ...rest] = value.split('\n');
  return [`${pad}${label.padEnd(LABEL_WIDTH)}${first}`, ...rest.map((r) => `${pad}${' '.repeat(LABEL_WIDTH)}${r}`)].join('\n');
}

/** "function / reason / ssl/statem/file.c:123 (data)" for an entry, the shape OpenSSL's path tables use. */
export function describeEntry(e: OpenSSLErrorEntry | undefined): string {
  if (e === undefined) return '(no OpenSSL error entry)';
  const where = e.file !== '' ? ` / ${shortSourcePath(e.file)}:${e.line}` : '';
  return `${e.function || '?'} / ${e.reason}${where}${e.data !== undefined ? ` (${e.data})` : ''}`;
}

/** The entries below the deciding SSL one ("rsa routines: last octet invalid; ..."), or undefined. */
export function lowerLevel(entries: readonly OpenSSLErrorEntry[]): string | undefined {
  const lower = entries.filter((e) => e.library !== 'SSL routines');
  if (lower.length === 0) return undefined;
  return lower.map((e) => `${e.library}: ${e.reason}`).join('; ');
}

/** The lines an explanation prints as: meaning (summary), what it means, causes, checks. */
export function explanationLines(x: Explanation, s: Style, verbose: boolean): string[] {
  const out = [line('meaning', x.summary)];
  if (x.inferredPath !== undefined) out.push(line('inferred', `${x.inferredPath} ${s.dim('(no entry on our side; the evidence points there)')}`));
  if (verbose) {
    out.push(line('', s.dim(x.meaning)));
    if (x.likelyCauses.length > 0) out.push(line('causes', x.likelyCauses.map((c) => `- ${c}`).join('\n')));
    if (x.checks.length > 0) out.push(line('check', x.checks.map((c) => `- ${c}`).join('\n')));
  }
  return out;
}
