//! Core's store conformance suite on every backend: one test per backend and suite test.

use ocs_deploy_core::testkit::conformance::store::ALL;

use crate::common::Target;

/// Runs the suite test `name` on a fresh store at `target`.
async fn run(target: Target, name: &str) {
    let Some(store) = target.fresh_store().await else {
        return;
    };
    let (_, test) = ALL
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no conformance test {name}"));
    test(&store).await;
    store.close().await;
}

macro_rules! per_target {
    ($module:ident, $target:expr, [$($name:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run($target, stringify!($name)).await;
                }
            )*
        }
    };
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        /// The suite's tests this file runs; checked against `ALL`.
        const NAMES: &[&str] = &[$(stringify!($name)),*];
        per_target!(sqlite_memory, crate::common::Target::SqliteMemory, [$($name),*]);
        per_target!(sqlite_file, crate::common::Target::SqliteFile, [$($name),*]);
        per_target!(postgres, crate::common::Target::Postgres, [$($name),*]);
        per_target!(mysql, crate::common::Target::MySql, [$($name),*]);
    };
}

conformance![
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

#[test]
fn every_suite_test_runs_on_every_backend() {
    let suite: Vec<&str> = ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(NAMES, suite.as_slice(), "update the list in conformance.rs");
}
