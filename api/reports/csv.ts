/**
 * CSV as RFC 4180 says (comma, CRLF, fields with a comma, quote, CR or LF quoted, quotes doubled), made safe
 * for spreadsheets: a text cell that a spreadsheet would read as a formula (starting with = + - @, a tab or
 * a carriage return, or their full-width forms) gets a leading apostrophe, so it is shown, never evaluated.
 */

const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;
const NEEDS_QUOTES = /[",\r\n]/;

/** UTF-8 byte order mark: lets Excel read the file as UTF-8 (accents), ignored by most CSV readers. */
export const UTF8_BOM = '\uFEFF';

export type Cell = string | number | null | undefined;

export function csvCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  let s = String(value);
  // Numbers come from our own computations (never negative); only text can carry a formula.
  if (typeof value === 'string' && FORMULA_START.test(s)) s = `'${s}`;
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const csvRow = (cells: readonly Cell[]) => `${cells.map(csvCell).join(',')}\r\n`;
