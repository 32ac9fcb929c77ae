-- ocs-deploy store, SQLite. Times are milliseconds since the Unix epoch.
CREATE TABLE packages (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    fragments INTEGER NOT NULL,
    size INTEGER NOT NULL,
    info TEXT NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE activations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package INTEGER NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    info_location TEXT NOT NULL,
    pack_location TEXT NOT NULL,
    cert_path TEXT,
    cert_file TEXT,
    created INTEGER NOT NULL,
    UNIQUE (package, info_location, pack_location)
);

CREATE TABLE computers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL UNIQUE,
    name TEXT,
    os_name TEXT,
    ip_address TEXT,
    tag TEXT,
    download_server INTEGER REFERENCES computers (id) ON DELETE SET NULL,
    last_contact INTEGER,
    last_inventory INTEGER
);

CREATE TABLE history (
    computer INTEGER NOT NULL REFERENCES computers (id) ON DELETE CASCADE,
    package INTEGER NOT NULL,
    PRIMARY KEY (computer, package)
) WITHOUT ROWID;
CREATE INDEX history_package ON history (package);

CREATE TABLE static_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    is_visible INTEGER NOT NULL
);

CREATE TABLE group_members (
    grp INTEGER NOT NULL REFERENCES static_groups (id) ON DELETE CASCADE,
    computer INTEGER NOT NULL REFERENCES computers (id) ON DELETE CASCADE,
    PRIMARY KEY (grp, computer)
) WITHOUT ROWID;
CREATE INDEX group_members_computer ON group_members (computer, grp);

CREATE TABLE group_affectations (
    grp INTEGER NOT NULL REFERENCES static_groups (id) ON DELETE CASCADE,
    activation INTEGER NOT NULL REFERENCES activations (id) ON DELETE CASCADE,
    forced INTEGER NOT NULL,
    schedule_at INTEGER,
    post_command TEXT,
    PRIMARY KEY (grp, activation)
) WITHOUT ROWID;
CREATE INDEX group_affectations_activation ON group_affectations (activation);

-- One row per computer and activation; `package` is the activation's, kept here so that
-- stats and "one affectation per package" are read from an index of this table alone.
-- `status_class` is StatusClass::of_stored(status): 0 waiting, 1 notified, 2 success,
-- 3 error, 4 unclassified.
CREATE TABLE affectations (
    computer INTEGER NOT NULL REFERENCES computers (id) ON DELETE CASCADE,
    activation INTEGER NOT NULL REFERENCES activations (id) ON DELETE CASCADE,
    package INTEGER NOT NULL,
    status TEXT,
    status_class INTEGER NOT NULL,
    forced INTEGER NOT NULL,
    schedule_at INTEGER,
    post_command TEXT,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (computer, activation)
) WITHOUT ROWID;
CREATE UNIQUE INDEX affectations_package_computer ON affectations (package, computer);
-- Stats read one package's range of this index alone: counts per status, the timeline,
-- the computers in a class (status_class implies status). A status change moves one entry.
CREATE INDEX affectations_package_status ON affectations (package, status_class, status, changed_at, computer);
CREATE INDEX affectations_activation ON affectations (activation);

CREATE TABLE status_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    computer INTEGER NOT NULL,
    activation INTEGER NOT NULL,
    status TEXT,
    changed_at INTEGER NOT NULL,
    FOREIGN KEY (computer, activation) REFERENCES affectations (computer, activation) ON DELETE CASCADE
);
CREATE INDEX status_events_affectation ON status_events (computer, activation, id);

-- scope_kind: 0 global (scope_id 0), 1 group, 2 computer. `name` is the OCS name.
CREATE TABLE settings (
    scope_kind INTEGER NOT NULL,
    scope_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    setting_value INTEGER NOT NULL,
    PRIMARY KEY (scope_kind, scope_id, name)
) WITHOUT ROWID;
