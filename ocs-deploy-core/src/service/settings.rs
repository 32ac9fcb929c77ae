//! Merging the download settings of the global, group and computer levels, with the rules
//! of the OCS server (`Capacities/Download.pm`, notes §4.3).

use core::time::Duration;
use std::collections::BTreeMap;

use crate::protocol::DownloadConfig;
use crate::store::{GroupId, Setting, SettingScope, SettingValue};

/// The settings a computer gets: its `DOWNLOAD` configuration and its `PROLOG_FREQ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveSettings {
    /// The `PARAM TYPE="CONF"` of the PROLOG reply.
    pub download: DownloadConfig,
    /// Hours between PROLOGs.
    pub prolog_freq: u32,
}

/// The value of a global setting that was never set: the OCS server's defaults (its
/// `config` table), with deployment switched on.
///
/// ```
/// use ocs_deploy_core::service::default_setting;
/// use ocs_deploy_core::store::Setting;
///
/// assert_eq!(default_setting(Setting::FragLatency), 10);
/// assert_eq!(default_setting(Setting::PrologFreq), 24);
/// ```
#[allow(clippy::match_same_arms)] // one value per setting reads as the OCS table
pub const fn default_setting(setting: Setting) -> i64 {
    match setting {
        Setting::Switch => 1,
        Setting::FragLatency => 10,
        Setting::CycleLatency => 60,
        Setting::PeriodLatency => 1,
        Setting::PeriodLength => 10,
        Setting::Timeout => 30,
        Setting::ExecutionTimeout => 120,
        Setting::PrologFreq => 24,
    }
}

/// Merges settings as the OCS server does:
///
/// - `ON`: off if the global switch is 0; else on unless a group's switch is 0, and then a
///   computer's own switch decides (a computer can switch itself off, never on against a
///   group).
/// - Groups are aggregated only while the global switch is on: the largest latencies
///   (`FRAG`, `CYCLE`, `PERIOD_LATENCY`), the smallest `PERIOD_LENGTH`, `TIMEOUT` and
///   `EXECUTION_TIMEOUT`, with the Perl rule "replace when larger (smaller), or when the
///   running value is unset or 0", group by group in key order.
/// - Then the global value fills an unset or 0 result, and a computer's own non-zero value
///   wins. A 0 means "not set" at every level.
/// - `PROLOG_FREQ`: the computer's, else the smallest of its groups', else the global one.
///
/// Global values never set take [`default_setting`]. Negative values count as 0.
///
/// ```
/// use ocs_deploy_core::service::merge_settings;
/// use ocs_deploy_core::store::{GroupId, Setting, SettingScope, SettingValue};
///
/// let v = |scope, setting, value| SettingValue { scope, setting, value };
/// let merged = merge_settings(&[
///     v(SettingScope::Group(GroupId(1)), Setting::CycleLatency, 120),
///     v(SettingScope::Group(GroupId(2)), Setting::CycleLatency, 90),
///     v(SettingScope::Group(GroupId(2)), Setting::PeriodLength, 5),
///     v(SettingScope::Computer(ocs_deploy_core::store::ComputerId(7)), Setting::PeriodLength, 20),
/// ]);
/// assert_eq!(merged.download.cycle_latency.as_secs(), 120); // the largest group value
/// assert_eq!(merged.download.period_length, 20); // the computer's own value wins
/// assert_eq!(merged.download.fragment_latency.as_secs(), 10); // the default
/// ```
pub fn merge_settings(settings: &[SettingValue]) -> EffectiveSettings {
    let mut global = BTreeMap::new();
    let mut groups: BTreeMap<GroupId, BTreeMap<Setting, i64>> = BTreeMap::new();
    let mut computer = BTreeMap::new();
    for s in settings {
        let value = s.value.max(0);
        match s.scope {
            SettingScope::Global => {
                global.insert(s.setting, value);
            }
            SettingScope::Group(g) => {
                groups.entry(g).or_default().insert(s.setting, value);
            }
            SettingScope::Computer(_) => {
                computer.insert(s.setting, value);
            }
        }
    }
    let global_value = |s: Setting| global.get(&s).copied().unwrap_or(default_setting(s));
    let own = |s: Setting| computer.get(&s).copied().filter(|&v| v != 0);

    let globally_on = global_value(Setting::Switch) != 0;
    let mut on = i64::from(globally_on);
    if globally_on {
        for g in groups.values() {
            if let Some(&v) = g.get(&Setting::Switch)
                && v < on
            {
                on = v;
            }
        }
        if on == 1
            && let Some(&v) = computer.get(&Setting::Switch)
        {
            on = v;
        }
    }

    let merged = |setting: Setting, larger: bool| -> i64 {
        let mut x: Option<i64> = None;
        if globally_on {
            for g in groups.values() {
                let candidate = g.get(&setting).copied();
                let better = match (candidate, x) {
                    (Some(c), Some(cur)) => {
                        if larger {
                            c > cur
                        } else {
                            c < cur
                        }
                    }
                    _ => false,
                };
                if better || x.is_none_or(|cur| cur == 0) {
                    x = candidate;
                }
            }
        }
        let x = x
            .filter(|&v| v != 0)
            .unwrap_or_else(|| global_value(setting));
        own(setting).unwrap_or(x)
    };

    let secs = |v: i64| Duration::from_secs(u64::try_from(v).unwrap_or(0));
    let count = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    let prolog_freq = own(Setting::PrologFreq)
        .or_else(|| {
            groups
                .values()
                .filter_map(|g| g.get(&Setting::PrologFreq).copied())
                .filter(|&v| v != 0)
                .min()
        })
        .unwrap_or_else(|| global_value(Setting::PrologFreq));
    EffectiveSettings {
        download: DownloadConfig {
            enabled: on != 0,
            fragment_latency: secs(merged(Setting::FragLatency, true)),
            cycle_latency: secs(merged(Setting::CycleLatency, true)),
            period_latency: secs(merged(Setting::PeriodLatency, true)),
            period_length: count(merged(Setting::PeriodLength, false)),
            timeout_days: count(merged(Setting::Timeout, false)),
            execution_timeout: secs(merged(Setting::ExecutionTimeout, false).saturating_mul(60)),
        },
        prolog_freq: count(prolog_freq),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ComputerId;

    fn v(scope: SettingScope, setting: Setting, value: i64) -> SettingValue {
        SettingValue {
            scope,
            setting,
            value,
        }
    }
    const G1: SettingScope = SettingScope::Group(GroupId(1));
    const G2: SettingScope = SettingScope::Group(GroupId(2));
    const ME: SettingScope = SettingScope::Computer(ComputerId(1));

    #[test]
    fn no_settings_give_the_ocs_defaults() {
        let merged = merge_settings(&[]);
        assert_eq!(merged.download, DownloadConfig::default());
        assert_eq!(merged.prolog_freq, 24);
    }

    #[test]
    fn switch_rules() {
        let on = |s: &[SettingValue]| merge_settings(s).download.enabled;
        assert!(!on(&[
            v(SettingScope::Global, Setting::Switch, 0),
            v(ME, Setting::Switch, 1)
        ]));
        assert!(!on(&[v(G1, Setting::Switch, 0), v(ME, Setting::Switch, 1)]));
        assert!(!on(&[v(G1, Setting::Switch, 1), v(ME, Setting::Switch, 0)]));
        assert!(on(&[v(G1, Setting::Switch, 1), v(G2, Setting::Switch, 1)]));
    }

    #[test]
    fn groups_are_ignored_when_globally_off() {
        let merged = merge_settings(&[
            v(SettingScope::Global, Setting::Switch, 0),
            v(G1, Setting::CycleLatency, 500),
        ]);
        assert_eq!(merged.download.cycle_latency, Duration::from_secs(60));
    }

    #[test]
    fn minimum_of_groups_and_the_perl_zero_rule() {
        // Group 1 sets 0 ("not set"), which the Perl rule takes as the running minimum,
        // and group 2's 7 then replaces it because 0 is falsy.
        let merged = merge_settings(&[v(G1, Setting::Timeout, 0), v(G2, Setting::Timeout, 7)]);
        assert_eq!(merged.download.timeout_days, 7);
        // A group without the setting after a 0 leaves it unset: the global value fills in.
        let merged = merge_settings(&[
            v(G1, Setting::Timeout, 0),
            v(G2, Setting::FragLatency, 3),
            v(SettingScope::Global, Setting::Timeout, 12),
        ]);
        assert_eq!(merged.download.timeout_days, 12);
        let merged = merge_settings(&[
            v(G1, Setting::PeriodLength, 8),
            v(G2, Setting::PeriodLength, 4),
            v(SettingScope::Global, Setting::PeriodLength, 2),
        ]);
        assert_eq!(merged.download.period_length, 4);
    }

    #[test]
    fn computer_value_wins_when_not_zero() {
        let merged = merge_settings(&[
            v(G1, Setting::FragLatency, 30),
            v(ME, Setting::FragLatency, 0),
            v(ME, Setting::ExecutionTimeout, 5),
        ]);
        assert_eq!(merged.download.fragment_latency, Duration::from_secs(30));
        assert_eq!(merged.download.execution_timeout, Duration::from_secs(300));
    }

    #[test]
    fn prolog_freq_levels() {
        assert_eq!(
            merge_settings(&[v(G1, Setting::PrologFreq, 6), v(G2, Setting::PrologFreq, 3)])
                .prolog_freq,
            3
        );
        assert_eq!(
            merge_settings(&[v(G1, Setting::PrologFreq, 6), v(ME, Setting::PrologFreq, 9)])
                .prolog_freq,
            9
        );
        assert_eq!(
            merge_settings(&[v(SettingScope::Global, Setting::PrologFreq, 12)]).prolog_freq,
            12
        );
        assert_eq!(
            merge_settings(&[v(ME, Setting::PrologFreq, -5)]).prolog_freq,
            24
        );
    }
}
