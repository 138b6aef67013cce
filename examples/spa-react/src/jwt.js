// Reads a JWT's payload for display only. The API verifies the signature; this app never
// trusts what it decodes here for anything but showing it and hiding buttons.

export function decodeJwtPayload(token) {
  try {
    const part = token.split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** The `permissions` claim (RBAC on), else the space-separated `scope`, sorted. */
export function permissionsOf(claims) {
  if (!claims) return [];
  const list = Array.isArray(claims.permissions)
    ? claims.permissions
    : typeof claims.scope === 'string'
      ? claims.scope.split(' ').filter((s) => s.includes(':'))
      : [];
  return [...new Set(list.map(String))].sort();
}
