//! {{name}}: greets each `user.signed_up` event with a `greeting.sent` event.

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::{Error, Event, Outcome, config, handler, log, state};

#[derive(Deserialize)]
struct SignUp {
    name: String,
}

#[derive(Serialize)]
struct Greeting {
    greeting: String,
    times: u64,
}

fn handle(event: Event) -> Result<Outcome, Error> {
    let signup: SignUp = event.json()?;
    let word = config::get("greeting").unwrap_or_else(|| "Hello".to_owned());
    let key = format!("greeted:{}", signup.name);
    let times = state::get_json::<u64>(&key)?.unwrap_or(0) + 1;
    state::set_json(&key, &times)?;
    log::info(format!("greeting {} (time {times})", signup.name));
    let greeting = Greeting {
        greeting: format!("{word}, {}!", signup.name),
        times,
    };
    Outcome::emit_json("greeting.sent", &greeting)
}

handler!(handle);
