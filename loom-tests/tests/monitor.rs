//! Loom models of monitors. Run with `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::monitor as m;

/// A monitor set up while its target ends delivers exactly one `Down`, whichever comes first.
#[test]
fn down_is_delivered_once_whichever_comes_first() {
    m::down_is_delivered_once_whichever_comes_first();
}

/// A `demonitor` racing the end: `true` means no `Down` ever comes, `false` exactly one.
#[test]
fn demonitor_racing_the_end_takes_the_down_back_or_reports_it_sent() {
    m::demonitor_racing_the_end_takes_the_down_back_or_reports_it_sent();
}

/// A monitor set up while its watcher ends leaves nothing on the target.
#[test]
fn a_watcher_ending_while_it_monitors_leaves_nothing_behind() {
    m::a_watcher_ending_while_it_monitors_leaves_nothing_behind();
}
