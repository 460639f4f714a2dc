//! What a `decide` call returns: events to append and the answer to the caller.

/// The outcome of one command (or one reaction).
///
/// `events` are appended to the aggregate's events topic and applied, in order.
/// `reply` is the event that answers the command: on first sight a clone of one
/// of `events`; when the same command id is replayed with the same request
/// hash, the *original* answer with `events` empty (nothing happens twice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision<E> {
    /// Events to append to the topic and apply, in order.
    pub events: Vec<E>,
    /// The event that answers the command, if it has an answer.
    pub reply: Option<E>,
}

impl<E> Decision<E> {
    /// Nothing to do and nothing to answer.
    pub fn none() -> Self {
        Self {
            events: Vec::new(),
            reply: None,
        }
    }

    /// An answer that changes nothing: a replay or a reply-only rejection.
    pub fn reply_only(reply: E) -> Self {
        Self {
            events: Vec::new(),
            reply: Some(reply),
        }
    }

    /// True when there is neither an event nor a reply.
    pub fn is_none(&self) -> bool {
        self.events.is_empty() && self.reply.is_none()
    }
}

impl<E: Clone> Decision<E> {
    /// One event that is also the answer.
    pub fn answer(event: E) -> Self {
        Self {
            reply: Some(event.clone()),
            events: vec![event],
        }
    }
}

impl<E> Default for Decision<E> {
    fn default() -> Self {
        Self::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_both_the_event_and_the_reply() {
        let d = Decision::answer(7);
        assert_eq!(d.events, vec![7]);
        assert_eq!(d.reply, Some(7));
        assert!(!d.is_none());
    }

    #[test]
    fn none_and_default_have_no_event_and_no_reply() {
        assert!(Decision::<u8>::none().is_none());
        assert!(Decision::<u8>::default().is_none());
        assert!(!Decision::reply_only(1u8).is_none());
    }
}
