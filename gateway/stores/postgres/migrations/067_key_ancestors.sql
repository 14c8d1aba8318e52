-- The keys a key was minted under, nearest first: reserve.lua counts a call of the key
-- against each one's quota windows too (`an` in the key's hot hash), so minting never
-- multiplies a cap. Written once with the key; rotation copies it with the lineage.
ALTER TABLE api_keys ADD COLUMN ancestors text[] NOT NULL DEFAULT '{}';

WITH RECURSIVE chain (id, up, depth) AS (
    SELECT id, minter_id, 1 FROM api_keys WHERE minter_kind = 'key' AND minter_id IS NOT NULL
    UNION ALL
    SELECT c.id, k.minter_id, c.depth + 1
    FROM chain c JOIN api_keys k ON k.id = c.up
    WHERE k.minter_kind = 'key' AND k.minter_id IS NOT NULL AND c.depth < 64
)
UPDATE api_keys a SET ancestors = found.ids
FROM (SELECT id, array_agg(up ORDER BY depth) AS ids FROM chain GROUP BY id) found
WHERE a.id = found.id;

-- A token minted by a key through /v1/auth/tokens lives no longer than the secret that
-- minted it: rotating that key ends the token with the old secret's grace.
ALTER TABLE api_keys ADD COLUMN secret_bound boolean NOT NULL DEFAULT false;
