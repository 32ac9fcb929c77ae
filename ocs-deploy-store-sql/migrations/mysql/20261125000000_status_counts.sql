-- Counts of affectations per package, status and hour, kept by triggers: see the SQLite
-- migration of the same name for why. MySQL runs no trigger for rows a foreign key
-- cascade deletes, so the store deletes affectations itself before their activation or
-- package. MySQL has no partial index: `affectations_package_status` stays.
CREATE TABLE status_counts (
    package BIGINT NOT NULL,
    status VARCHAR(255) NOT NULL,
    bucket BIGINT NOT NULL,
    shard BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (package, status, bucket, shard)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT INTO status_counts (package, status, bucket, shard, n)
SELECT package, COALESCE(status, ''), changed_at - changed_at % 3600000, computer % 16, COUNT(*)
FROM affectations GROUP BY 1, 2, 3, 4;

CREATE TRIGGER affectations_count_insert AFTER INSERT ON affectations FOR EACH ROW
INSERT INTO status_counts (package, status, bucket, shard, n)
VALUES (NEW.package, COALESCE(NEW.status, ''),
        NEW.changed_at - NEW.changed_at % 3600000, NEW.computer % 16, 1)
ON DUPLICATE KEY UPDATE n = n + 1;

CREATE TRIGGER affectations_count_delete AFTER DELETE ON affectations FOR EACH ROW
UPDATE status_counts SET n = n - 1
WHERE package = OLD.package AND status = COALESCE(OLD.status, '')
  AND bucket = OLD.changed_at - OLD.changed_at % 3600000 AND shard = OLD.computer % 16;

CREATE TRIGGER affectations_count_update AFTER UPDATE ON affectations FOR EACH ROW
BEGIN
    IF NOT (OLD.status <=> NEW.status)
       OR OLD.changed_at - OLD.changed_at % 3600000 <> NEW.changed_at - NEW.changed_at % 3600000 THEN
        UPDATE status_counts SET n = n - 1
        WHERE package = OLD.package AND status = COALESCE(OLD.status, '')
          AND bucket = OLD.changed_at - OLD.changed_at % 3600000 AND shard = OLD.computer % 16;
        INSERT INTO status_counts (package, status, bucket, shard, n)
        VALUES (NEW.package, COALESCE(NEW.status, ''),
                NEW.changed_at - NEW.changed_at % 3600000, NEW.computer % 16, 1)
        ON DUPLICATE KEY UPDATE n = n + 1;
    END IF;
END;
