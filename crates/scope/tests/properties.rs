//! Properties over arbitrary input: round trips of keys and legs, injectivity of keys and scope
//! composition, isolation of anonymous and authenticated keys, and total (panic-free) parsing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use proptest::prelude::*;
use taskctx_scope::{
    Component, Deployment, KeySpace, KeySuffix, Leg, Part, Scope, SubClaim, TaskId, TaskKey,
    TaskType, hash_slot, quote, scope_prefix, split_leg, unquote,
};

/// Text heavy in separators and escape look-alikes, plus arbitrary Unicode.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[:#%{}|a-c7C\\-._~ ]{0,8}",
        any::<String>(),
        "(%7C|%7c|:|#leg2|\\||\\{|\\}|ü|😀|%){0,6}",
    ]
}

fn task_id() -> impl Strategy<Value = TaskId<'static>> {
    prop_oneof![
        "[A-Za-z0-9._~-]{1,4}",
        "[A-Za-z0-9_-]{43}",
        "[A-Za-z0-9._~-]{1,256}"
    ]
    .prop_map(|id| TaskId::new(id).unwrap())
}

fn task_type() -> impl Strategy<Value = TaskType<'static>> {
    prop_oneof![
        Just(TaskType::TOOL),
        Just(TaskType::PROMPT),
        Just(TaskType::RESOURCE),
        Just(TaskType::TEMPLATE),
        "[a-z0-9_-]{1,64}".prop_map(|name| TaskType::new(name).unwrap()),
    ]
}

fn task_key() -> impl Strategy<Value = TaskKey<'static>> {
    (
        proptest::option::of(tricky_text()),
        task_id(),
        task_type(),
        tricky_text(),
    )
        .prop_map(|(scope, id, task_type, component)| {
            TaskKey::new(
                scope.map(Scope::from),
                id,
                task_type,
                Component::from(component),
            )
        })
}

/// Small alphabets, so that distinct identities often come close to colliding.
fn close_task_key() -> impl Strategy<Value = TaskKey<'static>> {
    (
        proptest::option::of("[:%7C|a]{0,3}"),
        "[ab]{1,2}",
        prop_oneof![Just(TaskType::TOOL), Just(TaskType::new("to").unwrap())],
        "[:%7C|a#]{0,3}",
    )
        .prop_map(|(scope, id, task_type, component)| {
            TaskKey::new(
                scope.map(Scope::from),
                TaskId::new(id).unwrap(),
                task_type,
                Component::from(component),
            )
        })
}

/// `s` with the hex digits of its escapes in lowercase.
fn lowercase_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut hex_left = 0;
    for c in s.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_lowercase());
            hex_left -= 1;
        } else {
            if c == '%' {
                hex_left = 2;
            }
            out.push(c);
        }
    }
    out
}

proptest! {
    #[test]
    fn every_built_key_parses_back(key in task_key(), leg in any::<u64>()) {
        let leg = Leg::new(leg);
        let text = key.execution_key(leg);
        let (parsed, parsed_leg) = TaskKey::parse_execution(&text).unwrap();
        prop_assert_eq!(&parsed, &key);
        prop_assert_eq!(parsed_leg, leg);
        prop_assert_eq!(TaskKey::parse(&text).unwrap(), key.clone());
        prop_assert_eq!(parsed.to_key(), key.to_key());
        prop_assert_eq!(parsed.clone().into_owned(), key.clone());
        prop_assert_eq!(key.to_key().len(), key.encoded_len());
        let (base, split) = split_leg(&text).unwrap();
        prop_assert_eq!(base, key.to_key());
        prop_assert_eq!(split, leg);
        if let (Some(ours), Some(theirs)) = (parsed.scope(), key.scope()) {
            prop_assert_eq!(ours.to_str(), theirs.to_str());
        }
        prop_assert_eq!(parsed.component().to_str(), key.component().to_str());
    }

    #[test]
    fn keys_are_injective(a in close_task_key(), b in close_task_key(), leg_a in 0u64..4, leg_b in 0u64..4) {
        let (leg_a, leg_b) = (Leg::new(leg_a), Leg::new(leg_b));
        let same_key = a.execution_key(leg_a) == b.execution_key(leg_b);
        prop_assert_eq!(same_key, a == b && leg_a == leg_b);
        prop_assert_eq!(a.to_key() == b.to_key(), a == b);
    }

    #[test]
    fn anonymous_and_authenticated_never_meet(
        scope in tricky_text(),
        id in task_id(),
        task_type in task_type(),
        component in tricky_text(),
        anon_component in tricky_text(),
    ) {
        let auth = TaskKey::new(Some(Scope::from(scope.clone())), id.clone(), task_type.clone(), Component::from(component));
        let anon = TaskKey::new(None, id.clone(), task_type, Component::from(anon_component));
        prop_assert_ne!(auth.to_key(), anon.to_key());
        let (auth_key, anon_key) = (auth.to_key(), anon.to_key());
        prop_assert!(TaskKey::parse(&auth_key).unwrap().scope().is_some());
        prop_assert!(TaskKey::parse(&anon_key).unwrap().scope().is_none());
        let scope = Scope::from(scope);
        prop_assert_ne!(scope_prefix(Some(&scope)), scope_prefix(None));
        let space = KeySpace::default();
        prop_assert_ne!(space.snapshot_key(Some(&scope), &id), space.snapshot_key(None, &id));
    }

    #[test]
    fn parsing_never_panics(text in prop_oneof![
        any::<String>(),
        "(auth|anon|Anon)?[:#%a-fA-F0-9|{}~ ü]{0,40}",
        "(auth|anon):[a-z%7C]{0,6}:[A-Za-z0-9]{0,3}:[a-z]{0,4}:[a-z%:#]{0,6}(#leg[0-9]{0,3})?",
    ]) {
        if let Ok((key, leg)) = TaskKey::parse_execution(&text) {
            // Whatever parses rebuilds to a canonical key with the same identity.
            let rebuilt = key.execution_key(leg);
            let (again, again_leg) = TaskKey::parse_execution(&rebuilt).unwrap();
            prop_assert_eq!(&again, &key);
            prop_assert_eq!(again_leg, leg);
            let _ = key.scope().map(Scope::to_str);
            let _ = key.component().to_str();
        }
        let _ = split_leg(&text);
        let _ = unquote(&text, Part::Scope);
        let _ = TaskId::new(text.as_str());
        let _ = TaskType::new(text.as_str());
        let _ = KeySpace::new(&text, Deployment::Cluster);
    }

    #[test]
    fn errors_never_echo_more_than_a_bounded_prefix(
        text in "(anon:|auth:|weird:)?[a-z:#%]{65,300}",
        leg_suffix in "#[a-z:]{65,300}",
    ) {
        let keyed = format!("anon:t:tool:x{leg_suffix}");
        let errors = [
            TaskKey::parse(&text).err(),
            split_leg(&text).err(),
            TaskKey::parse(&keyed).err(),
            KeySpace::new(&format!("{{{text}"), Deployment::Standalone).err(),
        ];
        for error in errors.into_iter().flatten() {
            let message = error.to_string();
            prop_assert!(!message.contains(&text[..65]), "{}", message);
            prop_assert!(!message.contains(&leg_suffix[..65]), "{}", message);
            prop_assert!(message.len() < 250, "{}", message);
        }
        prop_assert!(split_leg(&keyed).is_err());
    }

    #[test]
    fn quote_round_trips(text in any::<String>()) {
        let quoted = quote(&text);
        prop_assert!(quoted.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        prop_assert_eq!(unquote(&quoted, Part::Component).unwrap(), text.as_str());
        let lower = lowercase_escapes(&quoted);
        prop_assert_eq!(unquote(&lower, Part::Component).unwrap(), text.as_str());
    }

    #[test]
    fn scope_composition_is_injective(
        client_a in "[^|]{0,3}", sub_a in "[a|]{0,3}",
        client_b in "[^|]{0,3}", sub_b in "[a|]{0,3}",
    ) {
        let a = Scope::from_token(&client_a, SubClaim::String(&sub_a)).unwrap();
        let b = Scope::from_token(&client_b, SubClaim::String(&sub_b)).unwrap();
        prop_assert_eq!(a == b, client_a == client_b && sub_a == sub_b);
    }

    #[test]
    fn integer_subs_compose_as_decimal(client in "[^|]{0,8}", sub in any::<i64>()) {
        let scope = Scope::from_token(&client, SubClaim::Integer(sub.into())).unwrap();
        let expected = if sub == 0 { client.clone() } else { format!("{client}|{sub}") };
        prop_assert_eq!(scope.to_str(), expected);
    }

    #[test]
    fn every_task_key_of_a_cluster_queue_shares_a_slot(
        queue in "[^{}]{1,12}",
        scope in proptest::option::of(tricky_text()),
        id in task_id(),
        leg in 1u64..1000,
    ) {
        let space = KeySpace::new(&queue, Deployment::Cluster).unwrap();
        let scope = scope.map(Scope::from);
        let slot = hash_slot(queue.as_bytes());
        let suffixes = KeySuffix::FIXED
            .into_iter()
            .chain([KeySuffix::InputRequests(Leg::new(leg)), KeySuffix::InputMap(Leg::new(leg))]);
        for suffix in suffixes {
            let key = space.task_key(scope.as_ref(), &id, suffix);
            prop_assert_eq!(hash_slot(key.as_bytes()), slot, "{}", key);
        }
    }
}
