-- Counts of affectations per package, status and hour, kept by triggers: see the SQLite
-- migration of the same name for why.
CREATE TABLE status_counts (
    package BIGINT NOT NULL,
    status TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    shard BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (package, status, bucket, shard)
);

INSERT INTO status_counts (package, status, bucket, shard, n)
SELECT package, COALESCE(status, ''), changed_at - changed_at % 3600000, computer % 16, COUNT(*)
FROM affectations GROUP BY 1, 2, 3, 4;

CREATE FUNCTION affectations_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE status_counts SET n = n - 1
        WHERE package = OLD.package AND status = COALESCE(OLD.status, '')
          AND bucket = OLD.changed_at - OLD.changed_at % 3600000 AND shard = OLD.computer % 16;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO status_counts (package, status, bucket, shard, n)
        VALUES (NEW.package, COALESCE(NEW.status, ''),
                NEW.changed_at - NEW.changed_at % 3600000, NEW.computer % 16, 1)
        ON CONFLICT (package, status, bucket, shard) DO UPDATE SET n = status_counts.n + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER affectations_count_insert_delete AFTER INSERT OR DELETE ON affectations
FOR EACH ROW EXECUTE FUNCTION affectations_count();

CREATE TRIGGER affectations_count_update AFTER UPDATE OF status, changed_at ON affectations
FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status
      OR OLD.changed_at - OLD.changed_at % 3600000 <> NEW.changed_at - NEW.changed_at % 3600000)
EXECUTE FUNCTION affectations_count();

-- The computers behind a result: see the SQLite migration.
DROP INDEX affectations_package_status;
CREATE INDEX affectations_package_result ON affectations (package, status_class, status, computer)
WHERE status_class >= 2;
