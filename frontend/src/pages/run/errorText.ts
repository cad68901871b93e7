// How an error's message is shown next to its exception name.

/**
 * The message without a leading `<exception>:` (Snakemake repeats the exception's name at the
 * start of its message), so that the name, shown on its own, does not appear twice. Any other
 * message is returned unchanged.
 */
export function messageWithoutException(message: string | null | undefined, exception: string | null | undefined): string {
  const text = message ?? "";
  const name = exception?.trim();
  if (!name) return text;
  const prefix = `${name}:`;
  const start = text.length - text.trimStart().length;
  if (!text.startsWith(prefix, start)) return text;
  return text.slice(start + prefix.length).replace(/^[ \t]*(\r?\n)?/, "");
}
