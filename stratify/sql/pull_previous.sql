-- Was this file at this drop pulled before? Output: the earlier pull's sha256 and landing path.
-- Matched on source, location, remote path and size, then on the copied bytes' sha256 when it is
-- known ($sha256 not null), else on the modification time the drop reported: an unchanged file
-- left at the source is then not downloaded again every night.
SELECT sha256, landing_path
FROM pulls
WHERE outcome = 'pulled'
  AND source = $source
  AND location = $location
  AND remote_path = $remote_path
  AND size_bytes = $size_bytes
  AND CASE
        WHEN CAST($sha256 AS VARCHAR) IS NOT NULL THEN sha256 = CAST($sha256 AS VARCHAR)
        ELSE CAST($remote_mtime AS TIMESTAMPTZ) IS NOT NULL AND remote_mtime = CAST($remote_mtime AS TIMESTAMPTZ)
      END
ORDER BY pulled_at
LIMIT 1;
