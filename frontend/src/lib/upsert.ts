// Replacing rows by key in a cached list, the one way the live layer and the job loader do it.

/**
 * `list` with each of `items` replacing the row of the same key, or appended when new (then the
 * result is sorted with `order`, when given). The same list when `items` is empty.
 */
export function upsertBy<T, K>(list: T[], items: T[], key: (t: T) => K, order?: (a: T, b: T) => number): T[] {
  if (items.length === 0) return list;
  const index = new Map<K, number>();
  list.forEach((t, i) => index.set(key(t), i));
  const out = list.slice();
  let appended = false;
  for (const item of items) {
    const k = key(item);
    const i = index.get(k);
    if (i !== undefined) out[i] = item;
    else {
      index.set(k, out.length);
      out.push(item);
      appended = true;
    }
  }
  if (appended && order) out.sort(order);
  return out;
}
