//! Every topic the platform uses, with its key, partition count and cleanup.
//!
//! The four resource-keyed topics share one partition count so that partition
//! `p` of each holds the same resources (co-partitioning): the booking and
//! payment processors rely on it.

/// A topic's fixed shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TopicSpec {
    /// Topic name (also the Avro subject's prefix: `<name>-value`).
    pub name: &'static str,
    /// Number of partitions; never changes once created.
    pub partitions: u32,
    /// `cleanup.policy=compact` when true, `delete` otherwise.
    pub compacted: bool,
}

/// Partition count shared by every resource-keyed topic.
pub const RESOURCE_PARTITIONS: u32 = 12;
/// Partition count of the identity topics (keyed by normalized email).
pub const IDENTITY_PARTITIONS: u32 = 6;

/// Commands to the booking processor; key: resource id.
pub const BOOKING_COMMANDS: TopicSpec = TopicSpec {
    name: "slotstream.booking-commands",
    partitions: RESOURCE_PARTITIONS,
    compacted: false,
};
/// Facts decided by the booking processor; key: resource id.
pub const BOOKING_EVENTS: TopicSpec = TopicSpec {
    name: "slotstream.booking-events",
    partitions: RESOURCE_PARTITIONS,
    compacted: false,
};
/// Commands to the payment processor; key: resource id of the booking.
pub const PAYMENT_COMMANDS: TopicSpec = TopicSpec {
    name: "slotstream.payment-commands",
    partitions: RESOURCE_PARTITIONS,
    compacted: false,
};
/// Facts decided by the payment processor; key: resource id of the booking.
pub const PAYMENT_EVENTS: TopicSpec = TopicSpec {
    name: "slotstream.payment-events",
    partitions: RESOURCE_PARTITIONS,
    compacted: false,
};
/// Commands to the identity processor; key: normalized email.
pub const IDENTITY_COMMANDS: TopicSpec = TopicSpec {
    name: "slotstream.identity-commands",
    partitions: IDENTITY_PARTITIONS,
    compacted: false,
};
/// Facts decided by the identity processor; key: normalized email.
pub const IDENTITY_EVENTS: TopicSpec = TopicSpec {
    name: "slotstream.identity-events",
    partitions: IDENTITY_PARTITIONS,
    compacted: false,
};
/// Answers to commands, for the gateway that waits on them; key: the gateway
/// instance id, so each gateway reads only its own partition.
pub const REPLIES: TopicSpec = TopicSpec {
    name: "slotstream.replies",
    partitions: 4,
    compacted: false,
};
/// Records no processor could decode, with the reason; key: original topic.
pub const DEAD_LETTERS: TopicSpec = TopicSpec {
    name: "slotstream.dead-letters",
    partitions: 1,
    compacted: false,
};

/// How long a platform topic keeps its records (`None`: forever), the same
/// policy on both backends: events are the source of truth (views and
/// state are rebuilt from them), so they are kept forever; commands only
/// until processed, with a week of slack for a stopped processor; replies
/// only matter while a gateway waits; dead letters a month for an operator
/// to look at them.
pub fn retention(spec: &TopicSpec) -> Option<std::time::Duration> {
    const DAY: u64 = 24 * 3600;
    let secs = match spec.name {
        n if n == REPLIES.name => 3600,
        n if n == DEAD_LETTERS.name => 30 * DAY,
        n if n.ends_with("-events") => return None,
        _ => 7 * DAY,
    };
    Some(std::time::Duration::from_secs(secs))
}

/// Every topic, for `init` and the embedded backend.
pub const ALL: [TopicSpec; 8] = [
    BOOKING_COMMANDS,
    BOOKING_EVENTS,
    PAYMENT_COMMANDS,
    PAYMENT_EVENTS,
    IDENTITY_COMMANDS,
    IDENTITY_EVENTS,
    REPLIES,
    DEAD_LETTERS,
];

/// A consumer group and the topics it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    /// The group id.
    pub name: &'static str,
    /// Its input topics (one partition count).
    pub inputs: &'static [TopicSpec],
}

/// Every processor's consumer group (lag is reported for these).
pub mod groups {
    use super::*;

    /// The booking processor.
    pub const BOOKING: Group = Group {
        name: "slotstream.booking",
        inputs: &[BOOKING_COMMANDS, PAYMENT_EVENTS],
    };
    /// The payment processor.
    pub const PAYMENT: Group = Group {
        name: "slotstream.payment",
        inputs: &[BOOKING_EVENTS, PAYMENT_COMMANDS],
    };
    /// The identity processor.
    pub const IDENTITY: Group = Group {
        name: "slotstream.identity",
        inputs: &[IDENTITY_COMMANDS],
    };
    /// Emails about bookings.
    pub const NOTIFICATION_BOOKING: Group = Group {
        name: "slotstream.notification.booking",
        inputs: &[BOOKING_EVENTS],
    };
    /// Emails about accounts.
    pub const NOTIFICATION_IDENTITY: Group = Group {
        name: "slotstream.notification.identity",
        inputs: &[IDENTITY_EVENTS],
    };
    /// Booking and payment views.
    pub const VIEWS_BOOKING: Group = Group {
        name: "slotstream.views.booking",
        inputs: &[BOOKING_EVENTS, PAYMENT_EVENTS],
    };
    /// The users view.
    pub const VIEWS_IDENTITY: Group = Group {
        name: "slotstream.views.identity",
        inputs: &[IDENTITY_EVENTS],
    };
    /// The overlap auditor: checks the booking and payment events
    /// (`slotstream-audit`); keeps its own state, writes no record.
    pub const AUDIT: Group = Group {
        name: "slotstream.audit",
        inputs: &[BOOKING_EVENTS, PAYMENT_EVENTS],
    };
    /// The groups that only maintain views (they append no records): the
    /// embedded backend keeps their offsets and state beside the views.
    pub const VIEWS: [Group; 2] = [VIEWS_BOOKING, VIEWS_IDENTITY];
    /// All of them.
    pub const ALL: [Group; 8] = [
        BOOKING,
        PAYMENT,
        IDENTITY,
        NOTIFICATION_BOOKING,
        NOTIFICATION_IDENTITY,
        VIEWS_BOOKING,
        VIEWS_IDENTITY,
        AUDIT,
    ];
}

/// Looks a topic up by name.
pub fn by_name(name: &str) -> Option<TopicSpec> {
    ALL.iter().copied().find(|t| t.name == name)
}
