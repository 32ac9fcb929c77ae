//! The behaviour every [`Store`] must have.
// A test suite: it panics on purpose, and names rows p(ackage), a(ctivation), c(omputer).
#![allow(
    clippy::many_single_char_names,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::too_many_lines
)]
//!
//! Each function takes a fresh, empty store and panics on the first difference.

use core::future::Future;
use std::collections::BTreeSet;

use futures::future::{BoxFuture, join_all};

use crate::protocol::DeviceId;
use crate::store::{
    ActivationId, AffectOptions, BuiltPackage, ComputerFilter, ComputerId, ComputerUpdate,
    GroupAffectation, GroupId, NewActivation, PackageRecord, Page, ResultOutcome, Setting,
    SettingScope, SettingValue, StatusSelector, Store, TextMatch,
};
use crate::{PackageId, Priority, StatusClass, StatusCode, Timestamp};

/// A conformance test: a name and the function.
pub type StoreTest = (&'static str, for<'a> fn(&'a dyn Store) -> BoxFuture<'a, ()>);

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        /// Every test of this suite, by name.
        pub const ALL: &[StoreTest] = &[
            $((stringify!($name), |s| Box::pin($name(s)))),*
        ];
    };
}

tests![
    packages_are_kept_and_ids_are_unique,
    activations_are_unique_per_package_and_locations,
    computers_are_created_then_updated,
    computers_are_found_by_inventory_criteria,
    history_is_replaced_whole,
    groups_have_unique_names_and_members,
    affect_writes_waiting_rows_and_reaffect_resets,
    affect_refuses_unknown_rows_and_a_second_activation_of_a_package,
    notifies_each_affectation_once,
    in_history_only_from_waiting_or_notified,
    results_are_recorded_once_and_audited,
    result_for_unaffected_package_is_refused,
    contact_gathers_what_a_prolog_needs,
    adopt_takes_group_affectations_once,
    stats_are_counted_per_status,
    validation_deletes_only_what_it_selects,
    result_lists_follow_every_change,
    deleting_a_package_leaves_no_row_behind,
    deleting_an_activation_or_group_cascades,
    settings_are_kept_per_scope,
    long_and_unicode_status_texts_survive,
];

/// Runs every test, each on a fresh store from `make`, printing each name.
///
/// # Panics
/// On the first test that fails.
pub async fn run_all<S, F, Fut>(mut make: F)
where
    S: Store,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    for (name, test) in ALL {
        let store = make().await;
        tracing::info!(test = name, "store conformance");
        test(&store).await;
    }
}

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + secs)
}

fn pid(n: u64) -> PackageId {
    PackageId::new(1_700_000_000 + n).expect("valid id")
}

fn device(n: u64) -> DeviceId {
    DeviceId::parse(&format!("pc{n}-2026-01-01-00-00-00")).expect("valid device id")
}

async fn package(store: &dyn Store, n: u64) -> PackageId {
    let id = pid(n);
    store
        .insert_package(&PackageRecord {
            id,
            name: format!("package {n}"),
            priority: Priority::DEFAULT,
            fragments: 0,
            size: 0,
            info: String::new(),
            created: T0,
        })
        .await
        .expect("insert package");
    store
        .finish_package(
            id,
            &BuiltPackage {
                fragments: 2,
                size: 10,
                info: format!("<DOWNLOAD ID=\"{id}\" />"),
            },
        )
        .await
        .expect("finish package");
    id
}

async fn activation(store: &dyn Store, package: PackageId, site: &str) -> ActivationId {
    store
        .insert_activation(
            &NewActivation {
                package,
                info_location: format!("{site}.example/download"),
                pack_location: format!("{site}.example/download"),
                cert_path: None,
                cert_file: None,
            },
            T0,
        )
        .await
        .expect("insert activation")
}

async fn computer(store: &dyn Store, n: u64) -> ComputerId {
    store
        .upsert_computer(
            &ComputerUpdate {
                device_id: device(n),
                name: Some(format!("PC{n}")),
                os_name: Some(
                    if n.is_multiple_of(2) {
                        "Debian GNU/Linux"
                    } else {
                        "Windows 11"
                    }
                    .into(),
                ),
                ip_address: Some(format!("10.{}.0.{n}", n % 3)),
                tag: Some(format!("site-{}", n % 3)),
            },
            T0,
        )
        .await
        .expect("upsert computer")
}

async fn affect(store: &dyn Store, activation: ActivationId, computers: &[ComputerId]) {
    store
        .affect(activation, computers, &AffectOptions::default(), T0)
        .await
        .expect("affect");
}

async fn affect_group(store: &dyn Store, group: GroupId, activation: ActivationId) {
    store
        .affect_group(group, activation, &AffectOptions::default())
        .await
        .expect("affect group");
}

async fn status_of(store: &dyn Store, c: ComputerId, a: ActivationId) -> Option<String> {
    store
        .affectation(c, a)
        .await
        .expect("affectation")
        .expect("the affectation exists")
        .status
}

/// Packages are kept whole, listed by id, and an id is never given twice.
pub async fn packages_are_kept_and_ids_are_unique(store: &dyn Store) {
    assert_eq!(store.max_package_id().await.unwrap(), None);
    let a = package(store, 2).await;
    let b = package(store, 1).await;
    let record = store.package(a).await.unwrap().expect("package kept");
    assert_eq!(record.name, "package 2");
    assert_eq!(record.fragments, 2);
    assert_eq!(record.size, 10);
    assert!(record.is_built());
    assert_eq!(record.created, T0);
    let ids: Vec<_> = store
        .packages()
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, vec![b, a]);
    assert_eq!(store.max_package_id().await.unwrap(), Some(a));
    let again = store.insert_package(&record).await.unwrap_err();
    assert!(again.is_conflict(), "{again}");
    let missing = store
        .finish_package(
            pid(99),
            &BuiltPackage {
                fragments: 1,
                size: 1,
                info: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert_eq!(store.package(pid(99)).await.unwrap(), None);
}

/// One package may have several activations, but not two with the same locations.
pub async fn activations_are_unique_per_package_and_locations(store: &dyn Store) {
    let p = package(store, 1).await;
    let a = activation(store, p, "paris").await;
    let b = activation(store, p, "lyon").await;
    assert_ne!(a, b);
    let dup = store
        .insert_activation(
            &NewActivation {
                package: p,
                info_location: "paris.example/download".into(),
                pack_location: "paris.example/download".into(),
                cert_path: Some("other".into()),
                cert_file: None,
            },
            T0,
        )
        .await
        .unwrap_err();
    assert!(dup.is_conflict(), "{dup}");
    let unknown = store
        .insert_activation(
            &NewActivation {
                package: pid(42),
                info_location: "x/y".into(),
                pack_location: "x/y".into(),
                cert_path: None,
                cert_file: None,
            },
            T0,
        )
        .await
        .unwrap_err();
    assert!(unknown.is_not_found(), "{unknown}");
    let all = store.activations(p).await.unwrap();
    assert_eq!(all.iter().map(|x| x.id).collect::<Vec<_>>(), vec![a, b]);
    let got = store.activation(b).await.unwrap().expect("activation kept");
    assert_eq!(got.info_location, "lyon.example/download");
    assert_eq!(got.package, p);
    assert_eq!(got.cert_path, None);
    assert_eq!(got.created, T0);
}

/// The first inventory creates a computer, later ones update it under the same key.
pub async fn computers_are_created_then_updated(store: &dyn Store) {
    let id = computer(store, 1).await;
    let mut update = ComputerUpdate::new(device(1));
    update.name = Some("renamed".into());
    let again = store.upsert_computer(&update, at(60)).await.unwrap();
    assert_eq!(id, again);
    let c = store.computer(id).await.unwrap().expect("computer kept");
    assert_eq!(c.name.as_deref(), Some("renamed"));
    assert_eq!(c.os_name, None);
    assert_eq!(c.last_inventory, Some(at(60)));
    assert_eq!(c.last_contact, None);
    assert_eq!(store.computer_by_device(&device(1)).await.unwrap(), Some(c));
    assert_eq!(store.computer_by_device(&device(2)).await.unwrap(), None);
    let server = computer(store, 2).await;
    store.set_download_server(id, Some(server)).await.unwrap();
    let c = store.computer(id).await.unwrap().unwrap();
    assert_eq!(c.download_server, Some(server));
    let err = store
        .set_download_server(id, Some(ComputerId(i64::MAX)))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    store.set_download_server(id, None).await.unwrap();
    assert_eq!(
        store.computer(id).await.unwrap().unwrap().download_server,
        None
    );
}

/// Inventory criteria match ASCII-case-insensitively, wildcards are literal, and every
/// criterion given must match.
pub async fn computers_are_found_by_inventory_criteria(store: &dyn Store) {
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(computer(store, n).await);
    }
    let mut odd = ComputerUpdate::new(device(100));
    odd.name = Some("50%_off\\".into());
    let odd = store.upsert_computer(&odd, T0).await.unwrap();
    let find = |filter: ComputerFilter| async move { store.find_computers(&filter).await.unwrap() };
    assert_eq!(find(ComputerFilter::default()).await.len(), 7);
    let debian = find(ComputerFilter {
        os_name: Some(TextMatch::Contains("DEBIAN".into())),
        ..Default::default()
    })
    .await;
    assert_eq!(debian, vec![ids[0], ids[2], ids[4]]);
    let subnet = find(ComputerFilter {
        ip_address: Some(TextMatch::StartsWith("10.1.".into())),
        ..Default::default()
    })
    .await;
    assert_eq!(subnet, vec![ids[1], ids[4]]);
    let both = find(ComputerFilter {
        ip_address: Some(TextMatch::StartsWith("10.1.".into())),
        tag: Some(TextMatch::Equals("SITE-1".into())),
        os_name: Some(TextMatch::StartsWith("win".into())),
        ..Default::default()
    })
    .await;
    assert_eq!(both, vec![ids[1]]);
    let name = find(ComputerFilter {
        name: Some(TextMatch::Equals("pc3".into())),
        ..Default::default()
    })
    .await;
    assert_eq!(name, vec![ids[3]]);
    for literal in ["%", "_", "\\", "50%_off\\"] {
        let hit = find(ComputerFilter {
            name: Some(TextMatch::Contains(literal.into())),
            ..Default::default()
        })
        .await;
        assert_eq!(hit, vec![odd], "pattern {literal:?} must match literally");
    }
    let none = find(ComputerFilter {
        tag: Some(TextMatch::Equals("site".into())),
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());
}

/// A computer's history is replaced whole by each inventory.
pub async fn history_is_replaced_whole(store: &dyn Store) {
    let c = computer(store, 1).await;
    assert!(store.history(c).await.unwrap().is_empty());
    store
        .replace_history(c, &[pid(3), pid(1), pid(3)])
        .await
        .unwrap();
    assert_eq!(store.history(c).await.unwrap(), vec![pid(1), pid(3)]);
    store.replace_history(c, &[pid(2)]).await.unwrap();
    assert_eq!(store.history(c).await.unwrap(), vec![pid(2)]);
    store.replace_history(c, &[]).await.unwrap();
    assert!(store.history(c).await.unwrap().is_empty());
    let err = store
        .replace_history(ComputerId(i64::MAX), &[pid(1)])
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

/// Group names are unique; members are added once and removed.
pub async fn groups_have_unique_names_and_members(store: &dyn Store) {
    let g = store.create_group("servers", false).await.unwrap();
    let v = store.create_group("volunteers", true).await.unwrap();
    let dup = store.create_group("servers", true).await.unwrap_err();
    assert!(dup.is_conflict(), "{dup}");
    let found = store
        .group_by_name("volunteers")
        .await
        .unwrap()
        .expect("group kept");
    assert_eq!((found.id, found.visible), (v, true));
    assert_eq!(store.group_by_name("nobody").await.unwrap(), None);
    assert_eq!(store.groups().await.unwrap().len(), 2);
    let a = computer(store, 1).await;
    let b = computer(store, 2).await;
    store.add_members(g, &[a, b]).await.unwrap();
    store.add_members(g, &[a]).await.unwrap();
    assert_eq!(store.members(g).await.unwrap(), vec![a, b]);
    let err = store
        .add_members(g, &[ComputerId(i64::MAX)])
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = store
        .add_members(crate::store::GroupId(i64::MAX), &[a])
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(store.remove_members(g, &[a, a]).await.unwrap(), 1);
    assert_eq!(store.members(g).await.unwrap(), vec![b]);
    assert!(store.members(v).await.unwrap().is_empty());
}

/// Affecting writes a waiting row with its options and an event; affecting again resets
/// the status to waiting (the console's "affect again").
pub async fn affect_writes_waiting_rows_and_reaffect_resets(store: &dyn Store) {
    let p = package(store, 1).await;
    let a = activation(store, p, "paris").await;
    let c = computer(store, 1).await;
    let options = AffectOptions {
        force: true,
        schedule: Some(at(3600)),
        post_command: Some("REBOOT".into()),
    };
    store.affect(a, &[c], &options, at(1)).await.unwrap();
    let row = store.affectation(c, a).await.unwrap().expect("row written");
    assert_eq!(row.status, None);
    assert_eq!(row.options, options);
    assert_eq!(row.changed, at(1));
    store
        .record_result(c, p, "ERR_BUILD", StatusClass::Error, at(2))
        .await
        .unwrap();
    store
        .affect(a, &[c], &AffectOptions::default(), at(3))
        .await
        .unwrap();
    let row = store.affectation(c, a).await.unwrap().unwrap();
    assert_eq!(row.status, None);
    assert_eq!(row.options, AffectOptions::default());
    let trail: Vec<_> = store
        .status_events(c, a)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.status, e.at))
        .collect();
    assert_eq!(
        trail,
        vec![
            (None, at(1)),
            (Some("ERR_BUILD".into()), at(2)),
            (None, at(3))
        ]
    );
    assert_eq!(store.affectations_of(c).await.unwrap().len(), 1);
}

/// Unknown computers or activations are refused whole; a computer has one affectation
/// per package.
pub async fn affect_refuses_unknown_rows_and_a_second_activation_of_a_package(store: &dyn Store) {
    let p = package(store, 1).await;
    let a = activation(store, p, "paris").await;
    let b = activation(store, p, "lyon").await;
    let c = computer(store, 1).await;
    let d = computer(store, 2).await;
    let err = store
        .affect(a, &[c, ComputerId(i64::MAX)], &AffectOptions::default(), T0)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        store.affectations_of(c).await.unwrap().is_empty(),
        "nothing written"
    );
    let err = store
        .affect(ActivationId(i64::MAX), &[c], &AffectOptions::default(), T0)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    affect(store, a, &[c]).await;
    let err = store
        .affect(b, &[d, c], &AffectOptions::default(), T0)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        store.affectations_of(d).await.unwrap().is_empty(),
        "nothing written"
    );
    affect(store, b, &[d]).await;
}

/// Concurrent notifications change each waiting row exactly once, and never a row that
/// has a result.
pub async fn notifies_each_affectation_once(store: &dyn Store) {
    let p = package(store, 1).await;
    let q = package(store, 2).await;
    let a = activation(store, p, "paris").await;
    let b = activation(store, q, "paris").await;
    let c = computer(store, 1).await;
    affect(store, a, &[c]).await;
    affect(store, b, &[c]).await;
    store
        .record_result(c, q, "SUCCESS", StatusClass::Success, at(1))
        .await
        .unwrap();
    let targets = [a, b, ActivationId(i64::MAX)];
    let calls = (0..16).map(|i| store.notify(c, &targets, at(2 + i)));
    let results = join_all(calls).await;
    let changed: Vec<ActivationId> = results.into_iter().flat_map(|r| r.unwrap()).collect();
    assert_eq!(
        changed,
        vec![a],
        "exactly one call notifies, and only the waiting row"
    );
    assert_eq!(status_of(store, c, a).await.as_deref(), Some("NOTIFIED"));
    assert_eq!(status_of(store, c, b).await.as_deref(), Some("SUCCESS"));
    let notified = store
        .status_events(c, a)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.status.as_deref() == Some("NOTIFIED"))
        .count();
    assert_eq!(notified, 1);
    assert!(store.notify(c, &[a], at(99)).await.unwrap().is_empty());
}

/// `SUCCESS_ALREADY_IN_HISTORY` replaces only a waiting or notified status.
pub async fn in_history_only_from_waiting_or_notified(store: &dyn Store) {
    let p = package(store, 1).await;
    let a = activation(store, p, "paris").await;
    let (c1, c2, c3) = (
        computer(store, 1).await,
        computer(store, 2).await,
        computer(store, 3).await,
    );
    affect(store, a, &[c1, c2, c3]).await;
    store.notify(c2, &[a], at(1)).await.unwrap();
    store
        .record_result(c3, p, "ERR_BUILD", StatusClass::Error, at(1))
        .await
        .unwrap();
    assert!(store.mark_in_history(c1, a, at(2)).await.unwrap());
    assert!(store.mark_in_history(c2, a, at(2)).await.unwrap());
    assert!(!store.mark_in_history(c3, a, at(2)).await.unwrap());
    assert!(!store.mark_in_history(c1, a, at(3)).await.unwrap());
    let expected = StatusCode::SuccessAlreadyInHistory.to_string();
    assert_eq!(status_of(store, c1, a).await, Some(expected.clone()));
    assert_eq!(status_of(store, c2, a).await, Some(expected));
    assert_eq!(status_of(store, c3, a).await.as_deref(), Some("ERR_BUILD"));
    assert!(
        !store
            .mark_in_history(computer(store, 4).await, a, at(2))
            .await
            .unwrap()
    );
}

/// A result is recorded with its previous status; the same result again changes nothing;
/// every change is in the audit trail.
pub async fn results_are_recorded_once_and_audited(store: &dyn Store) {
    let p = package(store, 1).await;
    let a = activation(store, p, "paris").await;
    let c = computer(store, 1).await;
    affect(store, a, &[c]).await;
    store.notify(c, &[a], at(1)).await.unwrap();
    let first = store
        .record_result(c, p, "ERR_DOWNLOAD_PACK", StatusClass::Error, at(2))
        .await
        .unwrap();
    assert_eq!(
        first,
        ResultOutcome::Recorded {
            activation: a,
            previous: Some("NOTIFIED".into())
        }
    );
    let twice = store
        .record_result(c, p, "ERR_DOWNLOAD_PACK", StatusClass::Error, at(3))
        .await
        .unwrap();
    assert_eq!(twice, ResultOutcome::Unchanged { activation: a });
    let later = store
        .record_result(c, p, "SUCCESS", StatusClass::Success, at(4))
        .await
        .unwrap();
    assert_eq!(
        later,
        ResultOutcome::Recorded {
            activation: a,
            previous: Some("ERR_DOWNLOAD_PACK".into())
        }
    );
    let row = store.affectation(c, a).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_deref(), row.changed),
        (Some("SUCCESS"), at(4))
    );
    let trail: Vec<_> = store
        .status_events(c, a)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.status, e.at, e.computer, e.activation))
        .collect();
    assert_eq!(
        trail,
        vec![
            (None, T0, c, a),
            (Some("NOTIFIED".into()), at(1), c, a),
            (Some("ERR_DOWNLOAD_PACK".into()), at(2), c, a),
            (Some("SUCCESS".into()), at(4), c, a),
        ]
    );
}

/// A result for a package that is not affected to the computer is not recorded.
pub async fn result_for_unaffected_package_is_refused(store: &dyn Store) {
    let p = package(store, 1).await;
    let q = package(store, 2).await;
    let a = activation(store, p, "paris").await;
    activation(store, q, "paris").await;
    let c = computer(store, 1).await;
    let d = computer(store, 2).await;
    affect(store, a, &[c]).await;
    for (computer, package) in [(c, q), (d, p), (c, pid(77))] {
        let outcome = store
            .record_result(computer, package, "SUCCESS", StatusClass::Success, at(1))
            .await
            .unwrap();
        assert_eq!(outcome, ResultOutcome::NotAffected);
    }
    assert!(store.affectations_of(d).await.unwrap().is_empty());
    assert_eq!(status_of(store, c, a).await, None);
}

/// `contact` returns the computer, its server, history, groups, pending rows, group
/// affectations it has not adopted, and the settings that apply; it records the contact.
pub async fn contact_gathers_what_a_prolog_needs(store: &dyn Store) {
    assert_eq!(store.contact(&device(1), T0).await.unwrap(), None);
    let c = computer(store, 1).await;
    let server = computer(store, 2).await;
    let other = computer(store, 3).await;
    store.set_download_server(c, Some(server)).await.unwrap();
    store.replace_history(c, &[pid(9)]).await.unwrap();
    let g = store.create_group("g", false).await.unwrap();
    let h = store.create_group("h", false).await.unwrap();
    let unrelated = store.create_group("unrelated", false).await.unwrap();
    store.add_members(g, &[c]).await.unwrap();
    store.add_members(h, &[c]).await.unwrap();
    store.add_members(unrelated, &[other]).await.unwrap();
    let mut acts = Vec::new();
    for n in 1..=6 {
        let p = package(store, n).await;
        acts.push((p, activation(store, p, "paris").await));
    }
    let none = AffectOptions::default();
    // 1 waiting, 2 notified, 3 done: own rows. 4 through group g, also own. 5 through h
    // only. 6 through the unrelated group.
    store.affect(acts[0].1, &[c], &none, T0).await.unwrap();
    store.affect(acts[1].1, &[c], &none, T0).await.unwrap();
    store.affect(acts[2].1, &[c], &none, T0).await.unwrap();
    store.affect(acts[3].1, &[c], &none, T0).await.unwrap();
    store.notify(c, &[acts[1].1], at(1)).await.unwrap();
    store
        .record_result(c, acts[2].0, "SUCCESS", StatusClass::Success, at(1))
        .await
        .unwrap();
    let group_options = AffectOptions {
        force: false,
        schedule: Some(at(7)),
        post_command: None,
    };
    store.affect_group(g, acts[3].1, &none).await.unwrap();
    store
        .affect_group(h, acts[4].1, &group_options)
        .await
        .unwrap();
    store
        .affect_group(unrelated, acts[5].1, &none)
        .await
        .unwrap();
    store
        .set_setting(SettingScope::Global, Setting::FragLatency, Some(5))
        .await
        .unwrap();
    store
        .set_setting(SettingScope::Group(g), Setting::CycleLatency, Some(6))
        .await
        .unwrap();
    store
        .set_setting(
            SettingScope::Group(unrelated),
            Setting::CycleLatency,
            Some(99),
        )
        .await
        .unwrap();
    store
        .set_setting(SettingScope::Computer(c), Setting::Timeout, Some(3))
        .await
        .unwrap();
    store
        .set_setting(SettingScope::Computer(other), Setting::Timeout, Some(99))
        .await
        .unwrap();

    let ctx = store
        .contact(&device(1), at(50))
        .await
        .unwrap()
        .expect("known computer");
    assert_eq!(ctx.computer.id, c);
    assert_eq!(ctx.computer.last_contact, Some(at(50)));
    assert_eq!(ctx.download_server.map(|s| s.id), Some(server));
    assert_eq!(ctx.history, vec![pid(9)]);
    let groups: BTreeSet<_> = ctx.groups.iter().copied().collect();
    assert_eq!(groups, BTreeSet::from([g, h]));
    let mut pending: Vec<_> = ctx
        .pending
        .iter()
        .map(|(row, act)| {
            assert_eq!(row.activation, act.id);
            (act.package, row.status.clone())
        })
        .collect();
    pending.sort();
    assert_eq!(
        pending,
        vec![
            (acts[0].0, None),
            (acts[1].0, Some("NOTIFIED".into())),
            (acts[3].0, None)
        ]
    );
    let grouped: Vec<_> = ctx
        .group_affectations
        .iter()
        .map(|(ga, act)| (ga.group, act.id, ga.options.clone()))
        .collect();
    assert_eq!(grouped, vec![(h, acts[4].1, group_options)]);
    let mut settings = ctx.settings.clone();
    settings.sort_by_key(|s| (s.scope, s.setting));
    assert_eq!(
        settings,
        vec![
            SettingValue {
                scope: SettingScope::Global,
                setting: Setting::FragLatency,
                value: 5
            },
            SettingValue {
                scope: SettingScope::Group(g),
                setting: Setting::CycleLatency,
                value: 6
            },
            SettingValue {
                scope: SettingScope::Computer(c),
                setting: Setting::Timeout,
                value: 3
            },
        ]
    );
    assert_eq!(
        store.computer(c).await.unwrap().unwrap().last_contact,
        Some(at(50))
    );
}

/// A computer adopts a group affectation once, as a waiting row with the group's options,
/// and never when it already has the package through any activation.
pub async fn adopt_takes_group_affectations_once(store: &dyn Store) {
    let p = package(store, 1).await;
    let q = package(store, 2).await;
    let a = activation(store, p, "paris").await;
    let a2 = activation(store, p, "lyon").await;
    let b = activation(store, q, "paris").await;
    let c = computer(store, 1).await;
    let g = store.create_group("g", false).await.unwrap();
    affect(store, a2, &[c]).await;
    let options = AffectOptions {
        force: false,
        schedule: None,
        post_command: Some("SHUTDOWN".into()),
    };
    let offered = [
        GroupAffectation {
            group: g,
            activation: a,
            options: options.clone(),
        },
        GroupAffectation {
            group: g,
            activation: b,
            options: options.clone(),
        },
    ];
    let adopted = store.adopt(c, &offered, at(1)).await.unwrap();
    assert_eq!(adopted, vec![b]);
    let row = store.affectation(c, b).await.unwrap().expect("adopted row");
    assert_eq!(
        (row.status, row.options, row.changed),
        (None, options, at(1))
    );
    assert_eq!(store.affectation(c, a).await.unwrap(), None);
    assert!(store.adopt(c, &offered, at(2)).await.unwrap().is_empty());
    let err = store
        .adopt(ComputerId(i64::MAX), &offered, at(2))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

/// Counts per exact status, the computers behind them page by page, and the timeline.
pub async fn stats_are_counted_per_status(store: &dyn Store) {
    let p = package(store, 1).await;
    let other = package(store, 2).await;
    let a = activation(store, p, "paris").await;
    let b = activation(store, p, "lyon").await;
    let o = activation(store, other, "paris").await;
    let mut cs = Vec::new();
    for n in 0..10 {
        cs.push(computer(store, n).await);
    }
    store
        .affect(a, &cs[..6], &AffectOptions::default(), T0)
        .await
        .unwrap();
    store
        .affect(b, &cs[6..], &AffectOptions::default(), T0)
        .await
        .unwrap();
    store
        .affect(o, &cs, &AffectOptions::default(), T0)
        .await
        .unwrap();
    let hour = 3600;
    for (i, &c) in cs.iter().enumerate() {
        match i {
            0 | 1 => {}
            2 => {
                store.notify(c, &[a], at(10)).await.unwrap();
            }
            3..=5 => {
                store
                    .record_result(c, p, "SUCCESS", StatusClass::Success, at(hour + 5))
                    .await
                    .unwrap();
            }
            6 => {
                store
                    .record_result(c, p, "SUCCESS", StatusClass::Success, at(2 * hour))
                    .await
                    .unwrap();
            }
            7 | 8 => {
                store
                    .record_result(c, p, "ERR_BAD_DIGEST", StatusClass::Error, at(2 * hour + 1))
                    .await
                    .unwrap();
            }
            _ => {
                store
                    .record_result(
                        c,
                        p,
                        "UNKNOWN_CODE",
                        StatusClass::Unclassified,
                        at(3 * hour),
                    )
                    .await
                    .unwrap();
            }
        }
    }
    let mut counts: Vec<_> = store
        .status_counts(p)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.status, c.class, c.count))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            (None, StatusClass::Waiting, 2),
            (Some("ERR_BAD_DIGEST".into()), StatusClass::Error, 2),
            (Some("NOTIFIED".into()), StatusClass::Notified, 1),
            (Some("SUCCESS".into()), StatusClass::Success, 4),
            (Some("UNKNOWN_CODE".into()), StatusClass::Unclassified, 1),
        ]
    );
    let other_counts = store.status_counts(other).await.unwrap();
    assert_eq!(other_counts.len(), 1);
    assert_eq!(other_counts[0].count, 10);
    assert!(store.status_counts(pid(50)).await.unwrap().is_empty());

    let success = StatusSelector::Class(StatusClass::Success);
    let page1 = store
        .computers_with_status(
            p,
            &success,
            Page {
                offset: 0,
                limit: 3,
            },
        )
        .await
        .unwrap();
    let page2 = store
        .computers_with_status(
            p,
            &success,
            Page {
                offset: 3,
                limit: 3,
            },
        )
        .await
        .unwrap();
    let ids: Vec<_> = page1.iter().chain(&page2).map(|r| r.computer).collect();
    assert_eq!(ids, vec![cs[3], cs[4], cs[5], cs[6]]);
    assert_eq!(page1[0].device_id, device(3));
    assert_eq!(page1[0].name.as_deref(), Some("PC3"));
    assert_eq!(page1[0].status.as_deref(), Some("SUCCESS"));
    assert_eq!(page1[0].changed, at(hour + 5));
    let waiting = store
        .computers_with_status(
            p,
            &StatusSelector::Class(StatusClass::Waiting),
            Page::first(100),
        )
        .await
        .unwrap();
    assert_eq!(
        waiting.iter().map(|r| r.computer).collect::<Vec<_>>(),
        vec![cs[0], cs[1]]
    );
    let exact = store
        .computers_with_status(
            p,
            &StatusSelector::Exact("ERR_BAD_DIGEST".into()),
            Page::first(100),
        )
        .await
        .unwrap();
    assert_eq!(
        exact.iter().map(|r| r.computer).collect::<Vec<_>>(),
        vec![cs[7], cs[8]]
    );
    let all = store
        .computers_with_status(p, &StatusSelector::All, Page::first(100))
        .await
        .unwrap();
    assert_eq!(all.len(), 10);

    let timeline: Vec<_> = store
        .status_timeline(p)
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.start, b.status, b.count))
        .collect();
    let bucket = |s: u64| Timestamp::from_secs((1_700_000_000 + s) / 3600 * 3600);
    let mut expected = vec![
        (bucket(0), None, 2),
        (bucket(10), Some("NOTIFIED".to_owned()), 1),
        (bucket(hour + 5), Some("SUCCESS".to_owned()), 3),
        (bucket(2 * hour), Some("SUCCESS".to_owned()), 1),
        (bucket(2 * hour + 1), Some("ERR_BAD_DIGEST".to_owned()), 2),
        (bucket(3 * hour), Some("UNKNOWN_CODE".to_owned()), 1),
    ];
    expected.sort();
    let mut got = timeline.clone();
    got.sort();
    assert_eq!(got, expected);
    let starts: Vec<_> = timeline.iter().map(|t| t.0).collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "timeline sorted by bucket"
    );
}

/// Validation deletes exactly the selected rows of one package and their trail.
pub async fn validation_deletes_only_what_it_selects(store: &dyn Store) {
    let p = package(store, 1).await;
    let q = package(store, 2).await;
    let a = activation(store, p, "paris").await;
    let b = activation(store, q, "paris").await;
    let cs = [
        computer(store, 1).await,
        computer(store, 2).await,
        computer(store, 3).await,
        computer(store, 4).await,
    ];
    store
        .affect(a, &cs, &AffectOptions::default(), T0)
        .await
        .unwrap();
    store
        .affect(b, &cs, &AffectOptions::default(), T0)
        .await
        .unwrap();
    store.notify(cs[1], &[a], at(1)).await.unwrap();
    store
        .record_result(cs[2], p, "SUCCESS_0", StatusClass::Success, at(2))
        .await
        .unwrap();
    store
        .record_result(cs[3], p, "ERR_BUILD", StatusClass::Error, at(2))
        .await
        .unwrap();
    for &c in &cs {
        store
            .record_result(c, q, "SUCCESS", StatusClass::Success, at(2))
            .await
            .unwrap();
    }
    let success = StatusSelector::Class(StatusClass::Success);
    assert_eq!(store.delete_affectations(p, &success).await.unwrap(), 1);
    assert_eq!(store.affectation(cs[2], a).await.unwrap(), None);
    assert!(
        store.status_events(cs[2], a).await.unwrap().is_empty(),
        "trail deleted too"
    );
    let waiting = StatusSelector::Class(StatusClass::Waiting);
    assert_eq!(store.delete_affectations(p, &waiting).await.unwrap(), 1);
    assert_eq!(store.affectation(cs[0], a).await.unwrap(), None);
    assert_eq!(
        status_of(store, cs[1], a).await.as_deref(),
        Some("NOTIFIED")
    );
    assert_eq!(
        status_of(store, cs[3], a).await.as_deref(),
        Some("ERR_BUILD")
    );
    assert_eq!(
        store.status_counts(q).await.unwrap()[0].count,
        4,
        "other package untouched"
    );
    let exact = StatusSelector::Exact("ERR_BUILD".into());
    assert_eq!(store.delete_affectations(p, &exact).await.unwrap(), 1);
    assert_eq!(store.delete_affectations(p, &exact).await.unwrap(), 0);
    assert_eq!(store.unaffect(b, &[cs[0], cs[1]]).await.unwrap(), 2);
    assert_eq!(store.affectation(cs[0], b).await.unwrap(), None);
}

/// The computers behind a result class or status follow every way a row can move: a
/// result replaced by one of another class and back, a re-affectation, an unaffectation,
/// a result set by the server, validation, and a package deleted and made again.
pub async fn result_lists_follow_every_change(store: &dyn Store) {
    async fn listed(store: &dyn Store, p: PackageId, selector: StatusSelector) -> Vec<ComputerId> {
        store
            .computers_with_status(p, &selector, Page::first(100))
            .await
            .unwrap()
            .iter()
            .map(|r| r.computer)
            .collect()
    }
    let class = StatusSelector::Class;
    let exact = |s: &str| StatusSelector::Exact(s.to_owned());
    let p = package(store, 1).await;
    let a = activation(store, p, "paris").await;
    let mut cs = Vec::new();
    for n in 1..=6 {
        cs.push(computer(store, n).await);
    }
    affect(store, a, &cs).await;
    let result = |c: ComputerId, status: &'static str, secs: u64| async move {
        let class = StatusClass::of_stored(Some(status));
        store
            .record_result(c, p, status, class, at(secs))
            .await
            .unwrap();
    };
    // cs[0]: success, then an error, then success again, under another code.
    result(cs[0], "SUCCESS", 1).await;
    result(cs[0], "ERR_BUILD", 2).await;
    assert_eq!(listed(store, p, class(StatusClass::Success)).await, vec![]);
    assert_eq!(listed(store, p, exact("ERR_BUILD")).await, vec![cs[0]]);
    result(cs[0], "SUCCESS_0", 3).await;
    // cs[1]: one error code, then another of the same class.
    result(cs[1], "ERR_BAD_DIGEST", 1).await;
    result(cs[1], "EXIT_CODE_3", 2).await;
    // cs[2]: a success, then affected again (waiting).
    result(cs[2], "SUCCESS", 1).await;
    store
        .affect(a, &[cs[2]], &AffectOptions::default(), at(4))
        .await
        .unwrap();
    // cs[3]: an error, then unaffected.
    result(cs[3], "ERR_BUILD", 1).await;
    assert_eq!(store.unaffect(a, &[cs[3]]).await.unwrap(), 1);
    // cs[4]: in the history; cs[5]: an unknown code.
    assert!(store.mark_in_history(cs[4], a, at(1)).await.unwrap());
    result(cs[5], "WHATEVER", 1).await;

    assert_eq!(
        listed(store, p, class(StatusClass::Success)).await,
        vec![cs[0], cs[4]]
    );
    assert_eq!(
        listed(store, p, class(StatusClass::Error)).await,
        vec![cs[1]]
    );
    assert_eq!(
        listed(store, p, class(StatusClass::Unclassified)).await,
        vec![cs[5]]
    );
    assert_eq!(
        listed(store, p, class(StatusClass::Waiting)).await,
        vec![cs[2]]
    );
    assert_eq!(listed(store, p, exact("SUCCESS")).await, vec![]);
    assert_eq!(listed(store, p, exact("SUCCESS_0")).await, vec![cs[0]]);
    assert_eq!(listed(store, p, exact("ERR_BUILD")).await, vec![]);
    assert_eq!(listed(store, p, exact("ERR_BAD_DIGEST")).await, vec![]);
    assert_eq!(listed(store, p, exact("EXIT_CODE_3")).await, vec![cs[1]]);
    let rows = store
        .computers_with_status(p, &class(StatusClass::Success), Page::first(100))
        .await
        .unwrap();
    assert_eq!(rows[0].status.as_deref(), Some("SUCCESS_0"));
    assert_eq!(rows[0].changed, at(3));
    assert_eq!(rows[1].device_id, device(5));

    // Validation selects by the current status only.
    assert_eq!(
        store
            .delete_affectations(p, &class(StatusClass::Error))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.affectation(cs[1], a).await.unwrap(), None);
    assert_eq!(
        status_of(store, cs[0], a).await.as_deref(),
        Some("SUCCESS_0")
    );
    assert_eq!(
        store
            .delete_affectations(p, &exact("SUCCESS_0"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        listed(store, p, class(StatusClass::Success)).await,
        vec![cs[4]]
    );

    // A package made again under the same id starts with no result.
    assert!(store.delete_package(p).await.unwrap());
    let p = package(store, 1).await;
    let a = activation(store, p, "paris").await;
    affect(store, a, &cs).await;
    for selector in [
        class(StatusClass::Success),
        class(StatusClass::Error),
        class(StatusClass::Unclassified),
        exact("SUCCESS_ALREADY_IN_HISTORY"),
    ] {
        assert_eq!(listed(store, p, selector).await, vec![]);
    }
    result(cs[5], "SUCCESS", 5).await;
    assert_eq!(
        listed(store, p, class(StatusClass::Success)).await,
        vec![cs[5]]
    );
}

/// Deleting a package deletes its activations, affectations, group affectations, trail
/// and history rows, and nothing else.
pub async fn deleting_a_package_leaves_no_row_behind(store: &dyn Store) {
    let p = package(store, 1).await;
    let keep = package(store, 2).await;
    let a = activation(store, p, "paris").await;
    let k = activation(store, keep, "paris").await;
    let c = computer(store, 1).await;
    let g = store.create_group("g", false).await.unwrap();
    store.add_members(g, &[c]).await.unwrap();
    affect(store, a, &[c]).await;
    affect(store, k, &[c]).await;
    affect_group(store, g, a).await;
    affect_group(store, g, k).await;
    store.replace_history(c, &[p, keep]).await.unwrap();
    assert!(store.delete_package(p).await.unwrap());
    assert!(!store.delete_package(p).await.unwrap());
    assert_eq!(store.package(p).await.unwrap(), None);
    assert!(store.activations(p).await.unwrap().is_empty());
    assert_eq!(store.activation(a).await.unwrap(), None);
    assert_eq!(store.affectation(c, a).await.unwrap(), None);
    assert!(store.status_events(c, a).await.unwrap().is_empty());
    assert!(store.status_counts(p).await.unwrap().is_empty());
    let ga: Vec<_> = store
        .group_affectations(g)
        .await
        .unwrap()
        .iter()
        .map(|x| x.activation)
        .collect();
    assert_eq!(ga, vec![k]);
    assert_eq!(store.history(c).await.unwrap(), vec![keep]);
    assert!(store.affectation(c, k).await.unwrap().is_some());
    assert_eq!(
        store
            .record_result(c, p, "SUCCESS", StatusClass::Success, at(1))
            .await
            .unwrap(),
        ResultOutcome::NotAffected
    );
    // The id may be used again by a new package.
    package(store, 1).await;
}

/// Deleting an activation deletes its affectations; deleting a group its members,
/// affectations and settings, not the computers' own rows.
pub async fn deleting_an_activation_or_group_cascades(store: &dyn Store) {
    let p = package(store, 1).await;
    let a = activation(store, p, "paris").await;
    let b = activation(store, p, "lyon").await;
    let c = computer(store, 1).await;
    let d = computer(store, 2).await;
    let g = store.create_group("g", false).await.unwrap();
    store.add_members(g, &[c, d]).await.unwrap();
    affect(store, a, &[c]).await;
    affect(store, b, &[d]).await;
    affect_group(store, g, a).await;
    store
        .set_setting(SettingScope::Group(g), Setting::Switch, Some(0))
        .await
        .unwrap();
    assert!(store.delete_activation(a).await.unwrap());
    assert!(!store.delete_activation(a).await.unwrap());
    assert_eq!(store.affectation(c, a).await.unwrap(), None);
    assert!(store.status_events(c, a).await.unwrap().is_empty());
    assert!(store.group_affectations(g).await.unwrap().is_empty());
    assert!(store.affectation(d, b).await.unwrap().is_some());
    assert_eq!(store.activations(p).await.unwrap().len(), 1);
    // The counts and the timeline follow the cascade: only d's row is left.
    let counts = store.status_counts(p).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 1, "{counts:?}");
    let timeline = store.status_timeline(p).await.unwrap();
    assert_eq!(
        timeline.iter().map(|t| t.count).sum::<u64>(),
        1,
        "{timeline:?}"
    );
    affect_group(store, g, b).await;
    assert!(store.unaffect_group(g, b).await.unwrap());
    assert!(!store.unaffect_group(g, b).await.unwrap());
    affect_group(store, g, b).await;
    assert!(store.delete_group(g).await.unwrap());
    assert!(!store.delete_group(g).await.unwrap());
    assert!(store.members(g).await.unwrap().is_empty());
    assert!(store.group_affectations(g).await.unwrap().is_empty());
    assert!(
        store
            .settings(SettingScope::Group(g))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store.affectation(d, b).await.unwrap().is_some(),
        "own rows stay"
    );
    assert_eq!(store.group_by_name("g").await.unwrap(), None);
}

/// Settings are kept per scope, replaced, and removed.
pub async fn settings_are_kept_per_scope(store: &dyn Store) {
    let c = computer(store, 1).await;
    let g = store.create_group("g", false).await.unwrap();
    for (scope, value) in [
        (SettingScope::Global, 30),
        (SettingScope::Group(g), 20),
        (SettingScope::Computer(c), 10),
    ] {
        store
            .set_setting(scope, Setting::PeriodLength, Some(value))
            .await
            .unwrap();
        store
            .set_setting(scope, Setting::PeriodLength, Some(value + 1))
            .await
            .unwrap();
        store
            .set_setting(scope, Setting::PrologFreq, Some(-1))
            .await
            .unwrap();
        let mut got = store.settings(scope).await.unwrap();
        got.sort_by_key(|s| s.setting);
        assert_eq!(
            got,
            vec![
                SettingValue {
                    scope,
                    setting: Setting::PeriodLength,
                    value: value + 1
                },
                SettingValue {
                    scope,
                    setting: Setting::PrologFreq,
                    value: -1
                },
            ]
        );
        store
            .set_setting(scope, Setting::PrologFreq, None)
            .await
            .unwrap();
        store
            .set_setting(scope, Setting::Timeout, None)
            .await
            .unwrap();
        assert_eq!(store.settings(scope).await.unwrap().len(), 1);
    }
    let err = store
        .set_setting(
            SettingScope::Computer(ComputerId(i64::MAX)),
            Setting::Switch,
            Some(1),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = store
        .set_setting(
            SettingScope::Group(crate::store::GroupId(i64::MAX)),
            Setting::Switch,
            Some(1),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

/// A status of the longest allowed length and one with any Unicode come back unchanged.
pub async fn long_and_unicode_status_texts_survive(store: &dyn Store) {
    let p = package(store, 1).await;
    let a = activation(store, p, "paris").await;
    let c = computer(store, 1).await;
    affect(store, a, &[c]).await;
    let long = format!("ERR_{}", "é".repeat((crate::store::MAX_STATUS_LEN - 4) / 2));
    assert!(long.len() <= crate::store::MAX_STATUS_LEN);
    store
        .record_result(c, p, &long, StatusClass::Error, at(1))
        .await
        .unwrap();
    assert_eq!(status_of(store, c, a).await, Some(long));
    let odd = "ÉCHEC 💥 'quoted' \"double\" ; DROP TABLE x; --";
    store
        .record_result(c, p, odd, StatusClass::Unclassified, at(2))
        .await
        .unwrap();
    assert_eq!(status_of(store, c, a).await.as_deref(), Some(odd));
    let counts = store.status_counts(p).await.unwrap();
    assert_eq!(counts[0].status.as_deref(), Some(odd));
    assert_eq!(counts[0].class, StatusClass::Unclassified);
}
