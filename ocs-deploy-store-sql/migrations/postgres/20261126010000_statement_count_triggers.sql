-- `status_counts` kept by statement-level triggers over transition tables instead of one
-- trigger call per row. A row-level trigger upserted a count row once per changed
-- affectation: affecting a package to 100,000 computers updated the same few count rows
-- 100,000 times in one transaction (each update a new row version, so the table swelled
-- to hundreds of megabytes of dead versions for a few hundred live rows, and later
-- upserts walked them), and a first PROLOG ran 50 trigger calls of two statements each.
-- Now each statement that changes `affectations` adds its changes up per count row and
-- writes each count row once, in key order (so concurrent writers lock them in the same
-- order). An update whose rows keep their status and hour bucket writes nothing.
--
-- Transition tables need one trigger per event and no column list.
DROP TRIGGER affectations_count_insert_delete ON affectations;
DROP TRIGGER affectations_count_update ON affectations;
DROP FUNCTION affectations_count();

CREATE FUNCTION affectations_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO status_counts AS c (package, status, bucket, shard, n)
        SELECT package, COALESCE(status, ''), changed_at - changed_at % 3600000,
               computer % 16, COUNT(*)
        FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (package, status, bucket, shard) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO status_counts AS c (package, status, bucket, shard, n)
        SELECT package, COALESCE(status, ''), changed_at - changed_at % 3600000,
               computer % 16, -COUNT(*)
        FROM old_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (package, status, bucket, shard) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO status_counts AS c (package, status, bucket, shard, n)
        SELECT package, status, bucket, shard, SUM(d)
        FROM (SELECT package, COALESCE(status, '') AS status,
                     changed_at - changed_at % 3600000 AS bucket, computer % 16 AS shard,
                     -1 AS d
              FROM old_rows
              UNION ALL
              SELECT package, COALESCE(status, ''), changed_at - changed_at % 3600000,
                     computer % 16, 1
              FROM new_rows) AS changes
        GROUP BY 1, 2, 3, 4 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (package, status, bucket, shard) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER affectations_count_insert AFTER INSERT ON affectations
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION affectations_count_rows();

CREATE TRIGGER affectations_count_delete AFTER DELETE ON affectations
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION affectations_count_rows();

CREATE TRIGGER affectations_count_update AFTER UPDATE ON affectations
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION affectations_count_rows();
