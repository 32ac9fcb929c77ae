-- `status_counts` keyed by shard first. A first PROLOG notifies one computer's
-- affectations of every package at once, and the count triggers then change two rows per
-- package (waiting - 1, notified + 1), all in the computer's shard. Keyed by package
-- first, those rows were spread over every page of the table, and each contact's commit
-- wrote all of them to the WAL; keyed by (shard, status, bucket, package), one contact's
-- rows sit side by side on a page or two. The stats read one package through
-- `status_counts_package` (its rows are few: statuses x hours x 16 shards).
--
-- The triggers name the table, so they are dropped while it is rebuilt and created again
-- exactly as in `20261125000000_status_counts`.
DROP TRIGGER affectations_count_insert;
DROP TRIGGER affectations_count_delete;
DROP TRIGGER affectations_count_update;

CREATE TABLE status_counts_by_shard (
    package INTEGER NOT NULL,
    status TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    shard INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (shard, status, bucket, package)
) WITHOUT ROWID;
INSERT INTO status_counts_by_shard (package, status, bucket, shard, n)
SELECT package, status, bucket, shard, n FROM status_counts;
DROP TABLE status_counts;
ALTER TABLE status_counts_by_shard RENAME TO status_counts;
CREATE INDEX status_counts_package ON status_counts (package, status, bucket);

CREATE TRIGGER affectations_count_insert AFTER INSERT ON affectations BEGIN
    INSERT INTO status_counts (package, status, bucket, shard, n)
    VALUES (NEW.package, COALESCE(NEW.status, ''),
            NEW.changed_at - NEW.changed_at % 3600000, NEW.computer % 16, 1)
    ON CONFLICT (package, status, bucket, shard) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER affectations_count_delete AFTER DELETE ON affectations BEGIN
    UPDATE status_counts SET n = n - 1
    WHERE package = OLD.package AND status = COALESCE(OLD.status, '')
      AND bucket = OLD.changed_at - OLD.changed_at % 3600000 AND shard = OLD.computer % 16;
END;

CREATE TRIGGER affectations_count_update AFTER UPDATE OF status, changed_at ON affectations
WHEN OLD.status IS NOT NEW.status
  OR OLD.changed_at - OLD.changed_at % 3600000 <> NEW.changed_at - NEW.changed_at % 3600000
BEGIN
    UPDATE status_counts SET n = n - 1
    WHERE package = OLD.package AND status = COALESCE(OLD.status, '')
      AND bucket = OLD.changed_at - OLD.changed_at % 3600000 AND shard = OLD.computer % 16;
    INSERT INTO status_counts (package, status, bucket, shard, n)
    VALUES (NEW.package, COALESCE(NEW.status, ''),
            NEW.changed_at - NEW.changed_at % 3600000, NEW.computer % 16, 1)
    ON CONFLICT (package, status, bucket, shard) DO UPDATE SET n = n + 1;
END;
