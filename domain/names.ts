/** FNV-1a over UTF-16 code units, 32 bits, from `seed`: deterministic, no crypto (workflows use it). */
function fnv1a(text: string, seed: number): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** 64 bits of a text's two FNV-1a hashes, as 16 hex digits. */
function shortHash(text: string): string {
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  return hex(fnv1a(text, 0x811c9dc5)) + hex(fnv1a(text, 0x01234567));
}

/**
 * The name of a migration's replication objects (slot, publication, subscription), from its
 * workflow id: a readable part, then a hash of the whole id. Ids that read alike once lowercased
 * and cut (`Orders-EU` and `orders_eu`, or two long names with one prefix) still get names of
 * their own, so two migrations never share, nor drop, each other's slot. At most 63 bytes of
 * [a-z0-9_], as slot names must be.
 */
export function replicationObjectName(workflowId: string): string {
  const readable = workflowId
    .replace(/^migration-/, '')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 38);
  return `pgferry_${readable}_${shortHash(workflowId)}`;
}

/**
 * The name of the logical slot that watches a migration's write fence (no write may commit on the
 * frozen source but pgferry's): from the workflow id's hash, so that it never meets another
 * migration's, and `pgferry cleanup` finds it.
 */
export function fenceSlotName(workflowId: string): string {
  return `pgferry_fence_${shortHash(workflowId)}`;
}

/**
 * The base name of the objects that capture a migration's schema changes (online, domain
 * DdlPolicy): on the source, the table pgferry.NAME, its functions NAME_capture, NAME_drop,
 * NAME_refuse and the event triggers NAME_end and NAME_drop; on the target, the same table and
 * its trigger NAME_replay. From the replication objects' name (every step that drops them knows
 * it), hashed: that name has no room left for a suffix within 63 bytes.
 */
export function ddlCaptureName(replicationName: string): string {
  return `pgferry_ddl_${shortHash(replicationName)}`;
}

/**
 * The name of a migration's reverse replication in its fallback window (publication and slot on
 * the target, subscription on the source): from the workflow id's hash, apart from the forward
 * objects' name, so that dropping one never touches the other.
 */
export function reverseObjectName(workflowId: string): string {
  return `pgferry_back_${shortHash(workflowId)}`;
}

/**
 * The name of the write fence a fallback sets on the target (the owner of its saved settings and
 * its logical slot): apart from the source's fence, so that unfreezing one never lifts the other.
 */
export function fallbackFenceName(workflowId: string): string {
  return `pgferry_fence_back_${shortHash(workflowId)}`;
}
