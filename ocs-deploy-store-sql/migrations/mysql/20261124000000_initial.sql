-- ocs-deploy store, MariaDB/MySQL. Times are milliseconds since the Unix epoch.
-- Every text is utf8mb4 with a binary collation: exact, case-sensitive comparisons as in
-- the other dialects, and VARCHAR(255) holds 255 characters (so any 255-byte status).
CREATE TABLE packages (
    id BIGINT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    priority BIGINT NOT NULL,
    fragments BIGINT NOT NULL,
    size BIGINT NOT NULL,
    info MEDIUMTEXT NOT NULL,
    created BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE activations (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    package BIGINT NOT NULL,
    info_location VARCHAR(255) NOT NULL,
    pack_location VARCHAR(255) NOT NULL,
    cert_path TEXT,
    cert_file TEXT,
    created BIGINT NOT NULL,
    UNIQUE KEY activations_locations (package, info_location, pack_location),
    FOREIGN KEY (package) REFERENCES packages (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE computers (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    device_id VARCHAR(255) NOT NULL,
    name TEXT,
    os_name TEXT,
    ip_address TEXT,
    tag TEXT,
    download_server BIGINT,
    last_contact BIGINT,
    last_inventory BIGINT,
    UNIQUE KEY computers_device (device_id),
    FOREIGN KEY (download_server) REFERENCES computers (id) ON DELETE SET NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE history (
    computer BIGINT NOT NULL,
    package BIGINT NOT NULL,
    PRIMARY KEY (computer, package),
    KEY history_package (package),
    FOREIGN KEY (computer) REFERENCES computers (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE static_groups (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    is_visible BIGINT NOT NULL,
    UNIQUE KEY static_groups_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE group_members (
    grp BIGINT NOT NULL,
    computer BIGINT NOT NULL,
    PRIMARY KEY (grp, computer),
    KEY group_members_computer (computer, grp),
    FOREIGN KEY (grp) REFERENCES static_groups (id) ON DELETE CASCADE,
    FOREIGN KEY (computer) REFERENCES computers (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE group_affectations (
    grp BIGINT NOT NULL,
    activation BIGINT NOT NULL,
    forced BIGINT NOT NULL,
    schedule_at BIGINT,
    post_command TEXT,
    PRIMARY KEY (grp, activation),
    KEY group_affectations_activation (activation),
    FOREIGN KEY (grp) REFERENCES static_groups (id) ON DELETE CASCADE,
    FOREIGN KEY (activation) REFERENCES activations (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- See the SQLite migration for the meaning of `package` and `status_class`.
CREATE TABLE affectations (
    computer BIGINT NOT NULL,
    activation BIGINT NOT NULL,
    package BIGINT NOT NULL,
    status VARCHAR(255),
    status_class BIGINT NOT NULL,
    forced BIGINT NOT NULL,
    schedule_at BIGINT,
    post_command TEXT,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (computer, activation),
    UNIQUE KEY affectations_package_computer (package, computer),
    KEY affectations_package_status (package, status_class, status, changed_at, computer),
    KEY affectations_activation (activation),
    FOREIGN KEY (computer) REFERENCES computers (id) ON DELETE CASCADE,
    FOREIGN KEY (activation) REFERENCES activations (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE status_events (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    computer BIGINT NOT NULL,
    activation BIGINT NOT NULL,
    status VARCHAR(255),
    changed_at BIGINT NOT NULL,
    KEY status_events_affectation (computer, activation, id),
    FOREIGN KEY (computer, activation) REFERENCES affectations (computer, activation) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE settings (
    scope_kind BIGINT NOT NULL,
    scope_id BIGINT NOT NULL,
    name VARCHAR(64) NOT NULL,
    setting_value BIGINT NOT NULL,
    PRIMARY KEY (scope_kind, scope_id, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
