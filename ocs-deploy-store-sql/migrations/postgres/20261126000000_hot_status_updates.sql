-- Status changes as heap-only (HOT) updates.
--
-- PostgreSQL's heap keeps rows in insertion order, which is per activation (a package is
-- affected to the whole fleet at once): a computer's rows sit on as many pages as it has
-- affectations. A first PROLOG changes all of them from waiting to notified. While any
-- index held `status` or `status_class` (the partial index of results names them, if only
-- in its condition), every changed row got a new version with new entries in every index
-- of the table, and the entries of one computer in `(package, computer)` and
-- `(activation)` are one per package, each on a leaf page of its own: on a large fleet a
-- first PROLOG dirtied three pages per package instead of one.
--
-- Now no index of `affectations` holds a column a status change writes (`status`,
-- `status_class`, `changed_at`), and pages keep room for the new versions, so a status
-- change writes the row's own page and nothing else (see `n_tup_hot_upd` in
-- `pg_stat_user_tables`). The computers behind a result move to `affectation_results`,
-- kept by a trigger; waiting and notified rows are not in it, so notifying never fires it.
-- `computers` keeps room too, for `last_contact`.
--
-- A fill factor applies to pages written from now on: an existing large table gets it
-- everywhere after `VACUUM FULL affectations` (or `CLUSTER`), at a quiet time.
DROP INDEX affectations_package_result;

CREATE TABLE affectation_results (
    package BIGINT NOT NULL,
    status_class BIGINT NOT NULL,
    status TEXT NOT NULL,
    computer BIGINT NOT NULL,
    PRIMARY KEY (package, status_class, status, computer)
);

INSERT INTO affectation_results (package, status_class, status, computer)
SELECT package, status_class, status, computer FROM affectations WHERE status_class >= 2;

CREATE FUNCTION affectations_result() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.status_class >= 2 THEN
        DELETE FROM affectation_results
        WHERE package = OLD.package AND status_class = OLD.status_class
          AND status = OLD.status AND computer = OLD.computer;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status_class >= 2 THEN
        INSERT INTO affectation_results (package, status_class, status, computer)
        VALUES (NEW.package, NEW.status_class, NEW.status, NEW.computer);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER affectations_result_insert AFTER INSERT ON affectations
FOR EACH ROW WHEN (NEW.status_class >= 2) EXECUTE FUNCTION affectations_result();

CREATE TRIGGER affectations_result_delete AFTER DELETE ON affectations
FOR EACH ROW WHEN (OLD.status_class >= 2) EXECUTE FUNCTION affectations_result();

CREATE TRIGGER affectations_result_update AFTER UPDATE OF status, status_class ON affectations
FOR EACH ROW
WHEN ((OLD.status_class >= 2 OR NEW.status_class >= 2)
      AND (OLD.status IS DISTINCT FROM NEW.status OR OLD.status_class <> NEW.status_class))
EXECUTE FUNCTION affectations_result();

ALTER TABLE affectations SET (fillfactor = 80);
ALTER TABLE computers SET (fillfactor = 90);
