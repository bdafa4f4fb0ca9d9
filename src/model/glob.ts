/** Shell-style globs (`*`, `?`, `[abc]`) for the allowlists, matched against a whole string. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else if (ch === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close < 0) source += '\\[';
      else {
        source += `[${glob
          .slice(i + 1, close)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else source += ch.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** A compiled list of globs; `matches` is true when any glob matches any of the given names. */
export function globMatcher(globs: readonly string[]): (...names: readonly string[]) => boolean {
  const patterns = globs.map(globToRegExp);
  return (...names) => patterns.some((re) => names.some((name) => re.test(name)));
}
