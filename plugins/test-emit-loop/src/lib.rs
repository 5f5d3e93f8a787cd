//! Test fixture: re-emits every event it gets as a new event of the same type,
//! so routing it back to itself makes an endless chain that only the host's hop
//! limit stops. An event whose data is `"bad-extension"` is re-emitted with an
//! invalid extension attribute name instead, which the host must refuse.

use weir_plugin_sdk::{Event, NewEvent, Outcome, handler};

fn handle(event: Event) -> Outcome {
    let mut next = NewEvent {
        type_: event.type_,
        source: None,
        subject: None,
        datacontenttype: event.datacontenttype,
        data: event.data.clone(),
        extensions: Vec::new(),
    };
    if event.data == br#""bad-extension""# {
        next = next.extension("Not_Valid", "x");
    }
    Outcome::Emit(vec![next])
}

handler!(handle);
