//! Unit tests of the toxic sets: profiles as toxics, ramps, flapping,
//! partitions, added latency and raw toxics, region by region.

use std::time::Duration;

use super::*;
use crate::scenario::profile::{builtin, load_profile_str};
use crate::scenario::{Flap, RawToxic};

fn s(x: f64) -> Duration {
    Duration::from_secs_f64(x)
}

fn eu() -> Profile {
    let text = builtin("eu-longhaul").unwrap();
    load_profile_str(std::path::Path::new("eu.yaml"), text).unwrap()
}

fn ev(action: ChaosAction, at: f64, length: Option<f64>) -> ChaosEvent {
    ChaosEvent {
        name: "e".into(),
        regions: vec![0],
        at: s(at),
        length: length.map(s),
        ramp: None,
        flap: None,
        action,
    }
}

fn attr(d: &Desired, name: &str, key: &str) -> Option<u64> {
    d.iter()
        .find(|t| t.name == name)?
        .attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
}

#[test]
fn a_profile_becomes_handshake_latency_loss_and_bandwidth_toxics_per_direction() {
    let d = desired(Some(&eu()), 0, &[], Duration::ZERO);
    let names: Vec<&str> = d.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "profile-connect",
            "profile-latency-up",
            "profile-loss-up",
            "profile-bandwidth-up",
            "profile-latency-down",
            "profile-loss-down",
            "profile-bandwidth-down"
        ]
    );
    assert_eq!(attr(&d, "profile-connect", "delay"), Some(180));
    assert_eq!(attr(&d, "profile-latency-up", "latency"), Some(90));
    assert_eq!(attr(&d, "profile-latency-up", "jitter"), Some(8));
    // 0.1% loss, stalls sized by the 180 ms round trip.
    assert_eq!(attr(&d, "profile-loss-down", "rate_ppm"), Some(1_000));
    assert_eq!(attr(&d, "profile-loss-down", "rtt"), Some(180));
    // 5 Mbit/s up and 30 Mbit/s down, in KB/s.
    assert_eq!(attr(&d, "profile-bandwidth-up", "rate"), Some(625));
    assert_eq!(attr(&d, "profile-bandwidth-down", "rate"), Some(3_750));
    assert!(d.iter().take(4).all(|t| t.upstream));
    assert!(d.iter().skip(4).all(|t| !t.upstream));
}

#[test]
fn a_ramped_degradation_moves_the_profile_to_its_overlay_and_back() {
    let mut e = ev(ChaosAction::Degrade, 10.0, Some(30.0));
    e.ramp = Some(s(10.0));
    let p = eu();
    let lat = |t: f64| {
        attr(
            &desired(Some(&p), 0, &[e.clone()], s(t)),
            "profile-latency-up",
            "latency",
        )
    };
    assert_eq!(lat(5.0), Some(90));
    assert_eq!(lat(10.0), Some(90));
    assert_eq!(lat(15.0), Some(170)); // halfway from 90 to 250 ms
    assert_eq!(lat(20.0), Some(250));
    assert_eq!(lat(39.0), Some(250));
    assert_eq!(lat(40.0), Some(90));
    let loss = |t: f64| {
        attr(
            &desired(Some(&p), 0, &[e.clone()], s(t)),
            "profile-loss-up",
            "rate_ppm",
        )
    };
    assert_eq!(loss(15.0), Some(10_500)); // halfway from 0.1% to 2%
}

#[test]
fn flapping_switches_on_and_off_within_the_event() {
    let mut e = ev(ChaosAction::Partition(PartitionMode::Reset), 2.0, Some(7.0));
    e.flap = Some(Flap {
        on: s(1.0),
        off: s(2.0),
    });
    let on: Vec<bool> = [1.9, 2.0, 2.9, 3.0, 4.9, 5.0, 5.5, 6.0, 8.5, 9.0]
        .iter()
        .map(|&t| strength(&e, s(t)).is_some())
        .collect();
    assert_eq!(
        on,
        [false, true, true, false, false, true, true, false, true, false]
    );
    let pts = change_points(&[e], s(20.0));
    assert_eq!(
        pts,
        [0.0, 2.0, 3.0, 5.0, 6.0, 8.0, 9.0].map(s).to_vec(),
        "start, every switch, and the end"
    );
}

#[test]
fn partitions_map_to_refuse_reset_and_directional_blackholes() {
    let names = |m: PartitionMode| -> Vec<(String, String, bool)> {
        desired(None, 0, &[ev(ChaosAction::Partition(m), 0.0, None)], s(1.0))
            .into_iter()
            .map(|t| (t.name, t.kind, t.upstream))
            .collect()
    };
    let kinds = |m| {
        names(m)
            .into_iter()
            .map(|(_, k, up)| (k, up))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(PartitionMode::Refuse),
        [("refuse".to_string(), false), ("reset".to_string(), false)]
    );
    assert_eq!(
        kinds(PartitionMode::Blackhole(Directions::Both)),
        [
            ("blackhole".to_string(), true),
            ("blackhole".to_string(), false)
        ]
    );
    assert_eq!(
        kinds(PartitionMode::Blackhole(Directions::Upstream)),
        [("blackhole".to_string(), true)]
    );
}

#[test]
fn added_latency_is_a_round_trip_split_over_both_directions_and_ramps() {
    let mut e = ev(
        ChaosAction::Impair(Impairment {
            latency: s(0.3),
            ..Impairment::default()
        }),
        0.0,
        None,
    );
    let d = desired(None, 0, &[e.clone()], s(1.0));
    assert_eq!(attr(&d, "e-latency-up", "latency"), Some(150));
    assert_eq!(attr(&d, "e-latency-down", "latency"), Some(150));
    e.ramp = Some(s(30.0));
    let d = desired(None, 0, &[e.clone()], s(10.0));
    assert_eq!(attr(&d, "e-latency-up", "latency"), Some(50));
    let pts = change_points(&[e], s(100.0));
    assert_eq!(
        pts.len(),
        1 + RAMP_STEPS as usize,
        "start and each ramp step"
    );
}

#[test]
fn events_act_only_on_their_regions_and_raw_toxics_pass_through() {
    let mut e = ev(
        ChaosAction::Toxic(RawToxic {
            kind: "slicer".into(),
            upstream: false,
            toxicity: 0.5,
            attributes: vec![("average_size".into(), 64)],
        }),
        0.0,
        None,
    );
    e.regions = vec![1];
    assert!(desired(None, 0, &[e.clone()], s(1.0)).is_empty());
    let d = desired(None, 1, &[e], s(1.0));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].toxicity, 0.5);
    let json = d[0].to_json(Some(s(60.0)));
    assert_eq!(json["type"], "slicer");
    assert_eq!(json["stream"], "downstream");
    assert_eq!(json["attributes"]["average_size"], 64);
    assert_eq!(json["attributes"]["ttl"], 60_000);
}
