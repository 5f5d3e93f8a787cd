//! A routing table shaped like a SaaS back end's, and events to route through
//! it: each route names an event family by type glob (`booking.*`,
//! `invoice.paid`, ...), some narrow to a tenant or an attribute, a few stop.

use weir::event::Event;

/// Event families: route `i` matches family `i % FAMILIES`.
const FAMILIES: usize = 50;

/// The route table of `count` routes, as weir loads it.
pub fn table(count: usize) -> anyhow::Result<weir::route::RouteTable> {
    let config = weir::Config::from_toml(&routes(count), Default::default())?;
    Ok(config.routes)
}

/// The table: a route per (family, variant), the variants narrowing by tenant,
/// by attribute, or not at all; every tenth route stops.
fn routes(count: usize) -> String {
    let mut table = String::new();
    for i in 0..count {
        let family = i % FAMILIES;
        let condition = match (i / FAMILIES) % 4 {
            0 => format!("type = \"family{family}.*\""),
            1 => format!(
                "type = \"family{family}.created\", tenant = \"tenant{}\"",
                i % 7
            ),
            2 => format!(
                "type = \"family{family}.*\", attributes = {{ region = {{ one_of = [\"eu\", \"uk\"] }} }}"
            ),
            _ => format!("type = \"family{family}.updated\", source = \"app/*\""),
        };
        let stop = i % 10 == 9 && (i / FAMILIES) % 4 == 1;
        table.push_str(&format!(
            "[[route]]\nname = \"route-{i}\"\nmatch = {{ {condition} }}\nplugins = [\"plugin-{}\"]\nstop = {stop}\n\n",
            i % 20
        ));
    }
    table
}

/// Event `n`: one of the families (and some no route knows), a tenant, a region.
pub fn event(n: usize) -> Event {
    let kind = match n % 3 {
        0 => format!("family{}.created", n % (FAMILIES + 10)),
        1 => format!("family{}.updated", n % (FAMILIES + 10)),
        _ => format!("family{}.deleted", n % (FAMILIES + 10)),
    };
    let mut event = Event::new(
        format!("e{n}"),
        format!("app/{}", n % 5),
        kind,
        format!("tenant{}", n % 11),
    );
    if n.is_multiple_of(2) {
        event
            .extensions
            .insert("region".into(), ["eu", "us", "uk"][n % 3].into());
    }
    event
}
