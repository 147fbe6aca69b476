//! Unit tests of `regions:` and `chaos:` through the whole loader: shares,
//! profile references, event timing, and every problem at once.

use std::path::Path;
use std::time::Duration;

use super::*;

const HEAD: &str = "name: t
phases:
  - { name: warm, duration: 10s, load: { rate: 10/s }, flow: f }
  - { name: drop, duration: 20s, load: { rate: 10/s }, flow: f }
flows:
  f:
    - { name: product, get: /p }
";

fn files(p: &Path) -> Result<Vec<u8>, String> {
    if p.ends_with("mine.yaml") {
        Ok(
            b"name: mine\nupstream: { latency: 40ms }\ndownstream: { latency: 60ms, stdev: 5ms }\n"
                .to_vec(),
        )
    } else {
        Err("no such file".into())
    }
}

fn load(tail: &str) -> Result<Scenario, Vec<String>> {
    let text = format!("{HEAD}{tail}");
    load_with(Path::new("t.yaml"), &text, &mut files).map_err(|e| match e {
        LoadError::Invalid(d) => {
            d.0.iter()
                .map(|d| format!("{}:{} {}: {}", d.line, d.col, d.path, d.message))
                .collect()
        }
        other => vec![other.to_string()],
    })
}

#[test]
fn regions_get_shares_per_phase_and_profiles_by_name_file_or_inline() {
    let s = load(
        r#"regions:
  sea: { share: { default: 70%, drop: 40% }, profile: sea-mobile }
  eu: { share: { default: 30%, drop: 40% }, profile: ./mine.yaml }
  na: { share: { drop: 20% }, profile: { upstream: { latency: 70ms }, downstream: { latency: 70ms } } }
slos:
  - "p99(product, region=eu) < 1s"
"#,
    )
    .unwrap();
    let r = &s.regions;
    assert_eq!(r.len(), 3);
    assert_eq!((r[0].shares[0], r[0].shares[1]), (0.7, 0.4));
    assert_eq!((r[2].shares[0], r[2].shares[1]), (0.0, 0.2));
    assert_eq!(r[0].profile.as_ref().unwrap().name, "sea-mobile");
    let mine = r[1].profile.as_ref().unwrap();
    assert_eq!(mine.name, "mine");
    assert_eq!(mine.base_rtt(), Duration::from_millis(100));
    let inline = r[2].profile.as_ref().unwrap();
    assert_eq!(inline.name, "na");
    assert_eq!(inline.base_rtt(), Duration::from_millis(140));
    assert_eq!(s.slos[0].region.as_deref(), Some("eu"));
    assert_eq!(s.chaos, Chaos::default());
}

#[test]
fn chaos_events_resolve_phase_offsets_and_carry_their_action() {
    let s = load(
        r#"regions:
  sea: { share: 60%, profile: { upstream: { latency: 1ms }, downstream: { latency: 1ms } } }
  eu: { share: 40%, profile: eu-longhaul }
chaos:
  ttl: 5m
  events:
    - { name: cut, region: eu, at: drop+5s, for: 2s, partition: refuse }
    - { region: [eu, sea], at: 3s, for: 10s, latency: 300ms, ramp: 5s }
    - { region: all, at: drop, degrade: true, flap: { on: 1s, off: 2s } }
    - { region: sea, at: warm+1s, partition: half-open, direction: downstream }
"#,
    )
    .unwrap_err();
    // `degrade` needs a degraded overlay in every region it names, and
    // nearby-regions has none: the event is refused with its place.
    assert_eq!(s.len(), 1, "{s:#?}");
    assert!(
        s[0].starts_with(
            "16:7 chaos.events[2]: region `sea` has no profile with a `degraded` overlay"
        ),
        "{}",
        s[0]
    );

    let s = load(
        r#"regions:
  sea: { share: 60%, profile: sea-mobile }
  eu: { share: 40%, profile: eu-longhaul }
chaos:
  ttl: 5m
  events:
    - { name: cut, region: eu, at: drop+5s, for: 2s, partition: refuse }
    - { region: [eu, sea], at: 3s, for: 10s, latency: 300ms, ramp: 5s }
    - { region: all, at: drop, degrade: true, flap: { on: 1s, off: 2s } }
    - { region: sea, at: warm+1s, partition: half-open, direction: downstream }
"#,
    )
    .unwrap();
    let ev = &s.chaos.events;
    assert_eq!(s.chaos.ttl, Some(Duration::from_secs(300)));
    assert_eq!(ev[0].name, "cut");
    assert_eq!(ev[0].at, Duration::from_secs(15));
    assert_eq!(ev[0].until(), Some(Duration::from_secs(17)));
    assert_eq!(ev[0].action, ChaosAction::Partition(PartitionMode::Refuse));
    assert_eq!(ev[1].name, "chaos-2");
    assert_eq!(ev[1].regions, [1, 0]);
    assert_eq!(ev[1].ramp, Some(Duration::from_secs(5)));
    assert!(
        matches!(&ev[1].action, ChaosAction::Impair(i) if i.latency == Duration::from_millis(300))
    );
    assert_eq!(ev[2].regions, [0, 1]);
    assert_eq!(ev[2].at, Duration::from_secs(10));
    assert_eq!(ev[2].length, None);
    assert_eq!(
        ev[3].action,
        ChaosAction::Partition(PartitionMode::Blackhole(Directions::Downstream))
    );
}

#[test]
fn every_region_and_chaos_problem_is_reported_with_its_place() {
    let d = load(
        r#"regions:
  sea: { share: 70%, profile: sea-mobil }
  eu: { share: 20%, profile: ./missing.yaml, colour: blue }
chaos:
  backend: toxiproxy
  events:
    - { region: mars, at: 5s, partition: refuse }
    - { region: eu, at: nowhere+5s, latency: 100ms }
    - { region: eu, at: 2m, latency: 100ms }
    - { region: eu, at: 1s, partition: refuse, latency: 1ms }
    - { region: eu, at: 1s, partition: sideways }
    - { region: eu, at: 1s, for: 2s, ramp: 5s, loss: 1% }
    - { region: eu, at: 1s, toxic: { type: latency_normal, attributes: { latency: -1 } } }
slos:
  - "p99(product, region=moon) < 1s"
"#,
    )
    .unwrap_err();
    let want = [
        "9:31 regions.sea.profile: there is no shipped profile named `sea-mobil`",
        "10:30 regions.eu.profile: profile `./missing.yaml`: no such file",
        "10:46 regions.eu.colour: unknown field `colour`",
        "12:12 chaos.backend: `backend: toxiproxy` needs `toxiproxy:`",
        "14:17 chaos.events[0].region: no region is named `mars`",
        "15:25 chaos.events[1].at: no phase is named `nowhere`",
        "16:25 chaos.events[2].at: the event starts at 120.0 s, after the timeline ends (30.0 s)",
        "17:7 chaos.events[3]: an event has one action",
        "18:40 chaos.events[4].partition: unknown partition mode `sideways`",
        "19:44 chaos.events[5].ramp: the ramp is longer than the event",
        "20:83 chaos.events[6].toxic.attributes.latency: expected a whole number",
        "22:19 slos[0]: no region is named `moon`",
    ];
    for w in want {
        assert!(
            d.iter().any(|l| l.starts_with(w)),
            "missing {w:?} in\n{d:#?}"
        );
    }
    // The shares of the valid regions are not summed while regions have
    // problems of their own.
    assert!(!d.iter().any(|l| l.contains("add up")), "{d:#?}");
}

#[test]
fn shares_must_add_up_to_all_the_traffic_of_every_phase() {
    let d = load("regions:\n  a: { share: { warm: 50%, drop: 100% } }\n  b: { share: 40% }\n")
        .unwrap_err();
    assert_eq!(d.len(), 2, "{d:#?}");
    assert!(
        d[0].contains("in phase `warm` the regions' shares add up to 90%, not 100%"),
        "{}",
        d[0]
    );
    assert!(
        d[1].contains("in phase `drop` the regions' shares add up to 140%"),
        "{}",
        d[1]
    );
}

#[test]
fn chaos_without_regions_and_toxiproxy_with_extensions_are_refused() {
    let d = load("chaos:\n  - { region: eu, at: 1s, partition: refuse }\n").unwrap_err();
    assert!(
        d[0].contains("chaos acts on regions, and the scenario names none"),
        "{d:?}"
    );
    let d = load(
        "regions:\n  eu: { share: 100%, profile: eu-longhaul }\nchaos:\n  backend: toxiproxy\n  toxiproxy: 127.0.0.1:8474\n  events:\n    - { region: eu, at: 1s, toxic: { type: loss } }\n",
    )
    .unwrap_err();
    assert!(
        d.iter()
            .any(|l| l
                .contains("Toxiproxy cannot emulate region `eu`'s profile `eu-longhaul`: loss")),
        "{d:#?}"
    );
    assert!(
        d.iter()
            .any(|l| l.contains("`loss` is a flashcrowd extension")),
        "{d:#?}"
    );
    let s = load(
        "regions:\n  eu: { share: 100%, profile: { upstream: { latency: 90ms, jitter: 5ms }, downstream: { latency: 90ms } } }\nchaos:\n  backend: toxiproxy\n  toxiproxy: { eu: \"http://10.0.0.5:8474\" }\n  upstream: shop.internal:8080\n  events:\n    - { region: eu, at: 1s, for: 2s, partition: blackhole }\n",
    )
    .unwrap();
    assert_eq!(
        s.chaos.backend,
        ChaosBackend::Toxiproxy(ToxiproxyServers {
            api: vec!["10.0.0.5:8474".into()],
            upstream: Some("shop.internal:8080".into()),
        })
    );
}
