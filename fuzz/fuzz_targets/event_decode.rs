//! A message body off the event bus: the CloudEvents envelope, every event contract's
//! payload, and the notifications consumer's translation into an in-app notification.
//! A payload that decodes must survive being published again (`Envelope::new`, `to_vec`)
//! unchanged: that is what the outbox and the consumers rely on.
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use notifications::events::Occurrence;
use service_kit::events::{
    Envelope, Event, PaymentCancelled, PaymentCompleted, PaymentCreated, PaymentFailed,
    PaymentRefunded, UserDeleted, UserLogin, UserRegistered,
};

fn decode<E: Event + PartialEq + Debug>(envelope: &Envelope) {
    let Ok(event) = envelope.decode::<E>() else {
        return;
    };
    let published = Envelope::new(&envelope.source, &event).expect("an event serializes");
    let received = Envelope::from_slice(&published.to_vec()).expect("an envelope parses");
    assert_eq!(received, published);
    assert_eq!(received.decode::<E>().expect("an event decodes"), event);
}

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::from_slice(data) else {
        return;
    };
    decode::<UserRegistered>(&envelope);
    decode::<UserLogin>(&envelope);
    decode::<UserDeleted>(&envelope);
    decode::<PaymentCreated>(&envelope);
    decode::<PaymentCompleted>(&envelope);
    decode::<PaymentFailed>(&envelope);
    decode::<PaymentCancelled>(&envelope);
    decode::<PaymentRefunded>(&envelope);
    if let Ok(Some(occurrence)) = Occurrence::from_envelope(&envelope) {
        let _ = occurrence.notification();
    }
});
