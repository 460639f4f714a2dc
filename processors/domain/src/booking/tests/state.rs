//! Reads, restore and pruning.

use super::*;

#[test]
fn busy_lists_active_intervals_overlapping_the_window_by_start() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 120), T0);
    book(&mut p, request(2, "r1", "ann", T0 + 4 * HOUR, 60), T0);
    book(&mut p, request(3, "r1", "ann", T0 + 6 * HOUR, 60), T0);
    let busy = |from, to| -> Vec<String> {
        p.busy(&"r1".into(), from, to)
            .into_iter()
            .map(|(_, id)| id.0)
            .collect()
    };
    assert_eq!(busy(T0 + 2 * HOUR, T0 + 6 * HOUR), vec!["b1", "b2"]);
    assert_eq!(busy(T0 + 3 * HOUR, T0 + 4 * HOUR), Vec::<String>::new());
    assert_eq!(busy(T0 + 3 * HOUR, T0 + 4 * HOUR + 1), vec!["b2"]);
    assert_eq!(busy(T0 + 5 * HOUR, T0 + 5 * HOUR), Vec::<String>::new());
    assert!(p.busy(&"r2".into(), T0, T0 + DAY_LATER).is_empty());
}

#[test]
fn a_partition_loaded_from_its_records_in_any_order_decides_the_same() {
    let mut p = partition();
    let mut keys = vec![
        StateKey::Resource("r1".into()),
        StateKey::Resource("r2".into()),
    ];
    let mut step = |p: &mut BookingPartition, cmd: BookingCommand, now| {
        let d = p.decide(&cmd, now);
        for e in &d.events {
            keys.extend(p.apply(e));
        }
    };
    step(
        &mut p,
        BookingCommand::RequestBooking(request(1, "r1", "ann", T0 + HOUR, 60)),
        T0,
    );
    step(
        &mut p,
        BookingCommand::RequestBooking(request(2, "r1", "bob", T0 + 3 * HOUR, 60)),
        T0 + MINUTE,
    );
    step(
        &mut p,
        BookingCommand::RequestBooking(request(3, "r2", "bob", T0 + 3 * HOUR, 60)),
        T0,
    );
    step(&mut p, cancel(1, "b3", "r2", "bob"), T0);
    let mut restored = BookingPartition::new(no_grace());
    for key in keys.iter().rev() {
        if let Some(rec) = p.record(key) {
            restored.load(rec);
        }
    }
    for key in &keys {
        assert_eq!(restored.record(key), p.record(key));
    }
    assert_eq!(restored.next_expiry(), p.next_expiry());
    assert_eq!(
        restored.busy(&"r1".into(), T0, T0 + DAY_LATER),
        p.busy(&"r1".into(), T0, T0 + DAY_LATER)
    );
    let probe = BookingCommand::RequestBooking(request(9, "r1", "cy", T0 + HOUR, 60));
    assert_eq!(restored.decide(&probe, T0), p.decide(&probe, T0));
    let replay = BookingCommand::RequestBooking(request(2, "r1", "bob", T0 + 3 * HOUR, 60));
    assert_eq!(restored.decide(&replay, T0), p.decide(&replay, T0));
    assert_eq!(restored.due_expiries(T0 + HOUR), p.due_expiries(T0 + HOUR));
}

#[test]
fn pruning_forgets_old_answers_so_their_ids_decide_afresh() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    book(
        &mut p,
        request(2, "r1", "ann", T0 + 3 * HOUR, 60),
        T0 + HOUR,
    );
    let dropped = p.prune_commands(T0 + 1);
    assert!(dropped.contains(&StateKey::Command("c1".into())));
    assert!(!dropped.contains(&StateKey::Command("c2".into())));
    assert_eq!(p.record(&StateKey::Command("c1".into())), None);
    assert!(p.record(&StateKey::Command("c2".into())).is_some());
}

#[test]
fn records_of_other_aggregates_are_not_the_booking_sides() {
    let p = partition();
    assert_eq!(p.record(&StateKey::Payment("p1".into())), None);
    assert_eq!(p.record(&StateKey::Account("a@b.co".into())), None);
}
