//! Configuration from the environment: every key of the TOML file can come from a
//! `KETAMINE_CDS_…` variable. Its own test binary: it sets process environment variables, which
//! no other thread may read meanwhile (reqwest and process spawning do).

use ketamine_cds::config::FileConfig;

#[test]
fn every_key_can_come_from_the_environment() {
    // SAFETY: the only test of this binary, so no other thread reads the environment.
    unsafe {
        std::env::set_var("KETAMINE_CDS_FHIR__DEADLINE_MS", "900");
        std::env::set_var("KETAMINE_CDS_PUBLIC_BASE_URL", "https://env.example.org");
        // A flag's variable is the flag's, never a key of the file.
        std::env::set_var("KETAMINE_CDS_LISTEN", "localhost:9999");
        // The rollout, as the issue names it.
        std::env::set_var("KETAMINE_CDS_ROLLOUT__MODE", "pilot");
        std::env::set_var("KETAMINE_CDS_ROLLOUT__PILOT_PERCENT", "10");
    }
    let from_env = FileConfig::load(None);
    unsafe {
        std::env::set_var("KETAMINE_CDS_ROLLOUT__PILOT_PERCENT", "101");
    }
    let out_of_range = FileConfig::load(None);
    unsafe {
        std::env::remove_var("KETAMINE_CDS_FHIR__DEADLINE_MS");
        std::env::remove_var("KETAMINE_CDS_PUBLIC_BASE_URL");
        std::env::remove_var("KETAMINE_CDS_LISTEN");
        std::env::remove_var("KETAMINE_CDS_ROLLOUT__MODE");
        std::env::remove_var("KETAMINE_CDS_ROLLOUT__PILOT_PERCENT");
    }
    let from_env = from_env.unwrap();
    assert_eq!(from_env.fhir.deadline_ms, 900);
    assert_eq!(from_env.public_base_url.as_deref(), Some("https://env.example.org"));
    assert_eq!(from_env.rollout.mode, ketamine_cds::config::RolloutMode::Pilot);
    assert_eq!(from_env.rollout.pilot_percent, 10);
    assert_eq!(out_of_range.unwrap_err(), "rollout.pilot_percent: a share of 0 to 100");
}
