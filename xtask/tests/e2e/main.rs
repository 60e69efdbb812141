//! End-to-end tests of `cargo xtask docker`: the real binary against the real Docker Engine.
//!
//! One test binary with its own harness (libtest-mimic), for two reasons: the minimal image is
//! built once and shared by every test (a build takes minutes on 2 cores with vfs), and what the
//! run created (containers, volumes, `cv-test-*` images) is removed after the last test.
//! Without an engine the engine tests print why and pass; under CI=true they fail instead.

mod arm64;
mod bad_input;
mod bench;
mod compose;
mod dev;
mod faults;
mod minimal;
mod offline;
mod prod;
mod rebuild;
mod registry;
mod scan;
mod support;
mod tls;

use libtest_mimic::{Arguments, Failed, Trial};

fn trial(name: &'static str, test: fn() -> support::TestResult) -> Trial {
    Trial::test(name, move || test().map_err(Failed::from))
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let mut trials = vec![
        trial("bad_input::unknown_mode", bad_input::unknown_mode),
        trial(
            "bad_input::missing_dockerfile",
            bad_input::missing_dockerfile,
        ),
        trial(
            "bad_input::malformed_platform",
            bad_input::malformed_platform,
        ),
        trial("bad_input::malformed_secret", bad_input::malformed_secret),
        trial(
            "bad_input::engine_not_running",
            bad_input::engine_not_running,
        ),
        trial(
            "bad_input::buildkit_unavailable",
            bad_input::buildkit_unavailable,
        ),
        trial(
            "bad_input::wrong_architecture_is_refused_untagged",
            bad_input::wrong_architecture_is_refused_untagged,
        ),
        trial(
            "bad_input::dry_run_runs_nothing",
            bad_input::dry_run_runs_nothing,
        ),
        trial(
            "minimal::builds_with_a_summary",
            minimal::builds_with_a_summary,
        ),
        trial(
            "minimal::binary_is_the_real_one",
            minimal::binary_is_the_real_one,
        ),
        trial("minimal::has_no_shell", minimal::has_no_shell),
        trial(
            "minimal::runs_as_65532_serves_the_cv_and_turns_healthy",
            minimal::runs_as_65532_serves_the_cv_and_turns_healthy,
        ),
        trial(
            "minimal::stops_in_under_two_seconds",
            minimal::stops_in_under_two_seconds,
        ),
        trial(
            "minimal::read_only_and_no_capabilities_keep_posts_in_a_volume",
            minimal::read_only_and_no_capabilities_keep_posts_in_a_volume,
        ),
        trial(
            "minimal::canary_secret_is_nowhere_in_the_image",
            minimal::canary_secret_is_nowhere_in_the_image,
        ),
        trial(
            "minimal::run_flag_rebuilds_from_cache_and_serves",
            minimal::run_flag_rebuilds_from_cache_and_serves,
        ),
        trial(
            "minimal::run_on_a_taken_port_fails_and_leaves_no_container",
            minimal::run_on_a_taken_port_fails_and_leaves_no_container,
        ),
        trial(
            "bench::bad_flags_are_refused_before_any_build",
            bench::bad_flags_are_refused_before_any_build,
        ),
        trial(
            "bench::noop_and_startup_figures_match_the_engine",
            bench::noop_and_startup_figures_match_the_engine,
        ),
        trial(
            "prod::builds_under_30_mb_as_non_root",
            prod::builds_under_30_mb_as_non_root,
        ),
        trial("prod::binary_is_the_real_one", prod::binary_is_the_real_one),
        trial(
            "prod::runs_as_65532_serves_the_cv_and_turns_healthy",
            prod::runs_as_65532_serves_the_cv_and_turns_healthy,
        ),
        trial(
            "prod::stops_in_under_two_seconds",
            prod::stops_in_under_two_seconds,
        ),
        trial(
            "prod::read_only_and_no_capabilities_keep_posts_in_a_volume",
            prod::read_only_and_no_capabilities_keep_posts_in_a_volume,
        ),
        trial(
            "prod::canary_secret_is_nowhere_in_the_image",
            prod::canary_secret_is_nowhere_in_the_image,
        ),
        trial(
            "compose::prod_compose_up_healthy_and_hardened",
            compose::prod_compose_up_healthy_and_hardened,
        ),
        trial(
            "tls::outgoing_tls_verifies_against_the_image_bundle",
            tls::outgoing_tls_verifies_against_the_image_bundle,
        ),
        trial(
            "rebuild::source_change_reuses_the_dependency_layer",
            rebuild::source_change_reuses_the_dependency_layer,
        ),
        trial(
            "registry::push_to_the_local_registry",
            registry::push_to_the_local_registry,
        ),
        trial(
            "registry::push_to_a_dead_registry_is_retried_then_fails",
            registry::push_to_a_dead_registry_is_retried_then_fails,
        ),
        trial(
            "faults::daemon_retries_as_documented",
            faults::daemon_retries_as_documented,
        ),
        trial(
            "faults::pull_survives_faults_below_the_budget",
            faults::pull_survives_faults_below_the_budget,
        ),
        trial(
            "faults::pull_fails_once_clearly_at_the_budget",
            faults::pull_fails_once_clearly_at_the_budget,
        ),
        trial(
            "faults::pull_of_a_missing_image_is_tried_once",
            faults::pull_of_a_missing_image_is_tried_once,
        ),
        trial(
            "faults::push_survives_faults_below_the_budget",
            faults::push_survives_faults_below_the_budget,
        ),
        trial(
            "faults::push_fails_once_clearly_at_the_budget",
            faults::push_fails_once_clearly_at_the_budget,
        ),
    ];
    trials.extend([
        trial(
            "scan::minimal_image_scans_clean_at_high",
            scan::minimal_image_scans_clean_at_high,
        ),
        trial(
            "scan::prod_image_scans_clean_at_high",
            scan::prod_image_scans_clean_at_high,
        ),
        trial(
            "scan::minimal_image_sbom_is_cyclonedx_1_5_of_the_locked_crates",
            scan::minimal_image_sbom_is_cyclonedx_1_5_of_the_locked_crates,
        ),
        trial(
            "scan::syft_finds_the_same_crates_as_the_embedded_list",
            scan::syft_finds_the_same_crates_as_the_embedded_list,
        ),
        trial(
            "scan::seeded_root_user_is_caught",
            scan::seeded_root_user_is_caught,
        ),
        trial(
            "scan::seeded_canary_and_private_key_in_a_layer_are_caught",
            scan::seeded_canary_and_private_key_in_a_layer_are_caught,
        ),
        trial(
            "scan::seeded_secret_in_env_is_caught",
            scan::seeded_secret_in_env_is_caught,
        ),
        trial(
            "scan::seeded_dynamic_binary_in_scratch_is_caught",
            scan::seeded_dynamic_binary_in_scratch_is_caught,
        ),
        trial(
            "scan::seeded_setuid_and_world_writable_files_are_caught",
            scan::seeded_setuid_and_world_writable_files_are_caught,
        ),
        trial(
            "scan::seeded_shell_in_a_minimal_image_is_caught",
            scan::seeded_shell_in_a_minimal_image_is_caught,
        ),
        trial(
            "scan::docker_scan_fails_a_root_image_and_passes_a_clean_one",
            scan::docker_scan_fails_a_root_image_and_passes_a_clean_one,
        ),
    ]);
    trials.push(trial(
        "arm64::binary_is_aarch64_static_and_runs_under_qemu",
        arm64::binary_is_aarch64_static_and_runs_under_qemu,
    ));
    trials.push(trial(
        "dev::edit_reloads_the_page_without_a_restart",
        dev::edit_reloads_the_page_without_a_restart,
    ));
    trials.push(trial(
        "offline::vendored_copy_builds_with_no_network",
        offline::vendored_copy_builds_with_no_network,
    ));
    let conclusion = libtest_mimic::run(&args, trials);
    support::cleanup();
    conclusion.exit_code()
}
