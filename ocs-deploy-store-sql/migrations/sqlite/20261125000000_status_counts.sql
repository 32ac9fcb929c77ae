-- Counts of affectations per package, status and hour, kept by triggers. A status change
-- used to move an entry of the `(package, status…)` index, at a random place of a
-- per-package range of the whole fleet: on a large fleet each of a contact's status
-- changes touched a page of its own, and the cost of a contact grew with the fleet. Now a
-- change adds and removes one in a handful of small, hot rows, and the rows of one computer
-- (the primary key starts with it) are all a contact writes in `affectations`.
--
-- `status` is '' for waiting (NULL in `affectations`); `bucket` is `changed_at` rounded
-- down to the hour (`TIMELINE_BUCKET`); `shard` (`computer % 16`) spreads concurrent
-- writers of the other databases over several rows. Rows that reach 0 stay.
CREATE TABLE status_counts (
    package INTEGER NOT NULL,
    status TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    shard INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (package, status, bucket, shard)
) WITHOUT ROWID;

INSERT INTO status_counts (package, status, bucket, shard, n)
SELECT package, COALESCE(status, ''), changed_at - changed_at % 3600000, computer % 16, COUNT(*)
FROM affectations GROUP BY 1, 2, 3, 4;

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

-- The computers behind a result (success, error, other: classes 2 to 4), for the stats'
-- lists and validation. Waiting and notified rows are not in it, so notifying touches no
-- index; their lists read the package's range of `affectations_package_computer`.
DROP INDEX affectations_package_status;
CREATE INDEX affectations_package_result ON affectations (package, status_class, status, computer)
WHERE status_class >= 2;
