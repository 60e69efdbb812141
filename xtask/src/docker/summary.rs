//! The report printed after a build: what was made, how big, how much came from cache.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use xshell::Shell;

use super::exec::Outcome;

/// Build steps seen in the engine's progress output, and how many were served from cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepCount {
    pub cached: usize,
    pub total: usize,
}

/// Counts Dockerfile steps in BuildKit's plain progress or Buildah's output. None when the
/// output has no steps (quiet).
///
/// BuildKit numbers each stage's steps `[stage i/n]`, but it does not print a step at all when a
/// later step of the same stage is a cache hit (nothing needs it). So the total is the sum of
/// each stage's `n`, and a step counts as cached unless it was shown and ran: shown without a
/// `#N CACHED` line. `FROM` only resolves an image; it never counts as having run.
pub fn count_steps(output: &str) -> Option<StepCount> {
    let mut stages: Vec<(&str, usize)> = Vec::new();
    let mut shown: Vec<&str> = Vec::new();
    let mut cached: Vec<&str> = Vec::new();
    let (mut buildah_total, mut buildah_cached) = (0, 0);
    for line in output.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix('#') {
            let Some((vertex, text)) = rest.split_once(' ') else {
                continue;
            };
            if vertex.is_empty() || !vertex.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if text == "CACHED" {
                cached.push(vertex);
                continue;
            }
            // `[builder 2/6] RUN …` is a Dockerfile step; `[internal] …` and `[auth] …` are not.
            let Some((inside, instruction)) =
                text.strip_prefix('[').and_then(|t| t.split_once(']'))
            else {
                continue;
            };
            let (stage, position) = inside.rsplit_once(' ').unwrap_or(("", inside));
            let Some((i, n)) = position.split_once('/') else {
                continue;
            };
            let (Ok(_), Ok(n)) = (i.parse::<usize>(), n.parse::<usize>()) else {
                continue;
            };
            if !stages.iter().any(|(s, _)| *s == stage) {
                stages.push((stage, n));
            }
            if !instruction.trim_start().starts_with("FROM ") && !shown.contains(&vertex) {
                shown.push(vertex);
            }
        } else if line.starts_with("STEP ") {
            buildah_total += 1;
        } else if line.starts_with("--> Using cache") {
            buildah_cached += 1;
        }
    }
    if !stages.is_empty() {
        let total: usize = stages.iter().map(|(_, n)| n).sum();
        let ran = shown.iter().filter(|v| !cached.contains(v)).count();
        Some(StepCount {
            cached: total.saturating_sub(ran),
            total,
        })
    } else if buildah_total > 0 {
        Some(StepCount {
            cached: buildah_cached,
            total: buildah_total,
        })
    } else {
        None
    }
}

/// What `docker image inspect` says about the new image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    pub id: String,
    pub repo_digests: Vec<String>,
    pub size: u64,
    pub layers: usize,
    pub user: String,
    pub platform: String,
    pub version: Option<String>,
    pub revision: Option<String>,
    pub architecture: String,
    pub entrypoint: Vec<String>,
}

impl ImageFacts {
    /// Reads the facts from `inspect`'s JSON for one image.
    pub fn from_inspect(json: &Value) -> ImageFacts {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let label = |name: &str| json["Config"]["Labels"][name].as_str().map(str::to_owned);
        ImageFacts {
            id: text(&json["Id"]),
            repo_digests: json["RepoDigests"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default(),
            size: json["Size"].as_u64().unwrap_or(0),
            layers: json["RootFS"]["Layers"].as_array().map_or(0, Vec::len),
            user: text(&json["Config"]["User"]),
            platform: format!("{}/{}", text(&json["Os"]), text(&json["Architecture"])),
            architecture: text(&json["Architecture"]),
            entrypoint: json["Config"]["Entrypoint"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default(),
            version: label("org.opencontainers.image.version"),
            revision: label("org.opencontainers.image.revision"),
        }
    }

    pub fn inspect(sh: &Shell, client: &Path, image: &str) -> anyhow::Result<ImageFacts> {
        let out = sh
            .cmd(client)
            .args(["image", "inspect", image])
            .quiet()
            .read()
            .with_context(|| format!("cannot inspect the new image {image}"))?;
        let json: Value = serde_json::from_str(&out).context("`image inspect` printed no JSON")?;
        Ok(ImageFacts::from_inspect(&json[0]))
    }
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Summary {
    pub image: String,
    pub facts: ImageFacts,
    pub steps: Option<StepCount>,
    pub build_time: Duration,
    pub pushed: Option<String>,
    pub url: Option<String>,
    /// What the entrypoint turned out to be.
    pub binary: Option<String>,
}

impl Summary {
    pub fn new(image: String, facts: ImageFacts, outcome: &Outcome) -> Summary {
        Summary {
            image,
            facts,
            steps: count_steps(&outcome.build_output),
            build_time: outcome.build_time,
            pushed: outcome.pushed.clone(),
            url: outcome.url.clone(),
            binary: outcome.binary.clone(),
        }
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1_000_000.0)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let facts = &self.facts;
        let none = "none".to_owned();
        writeln!(f, "summary:")?;
        writeln!(f, "  image       {}", self.image)?;
        writeln!(f, "  image id    {}", facts.id)?;
        let digest = match (&self.pushed, facts.repo_digests.is_empty()) {
            (Some(_), false) => facts.repo_digests.join(", "),
            (Some(_), true) => "unknown (pushed, but the engine reported no digest)".to_owned(),
            (None, _) => "none (not pushed)".to_owned(),
        };
        writeln!(f, "  digest      {digest}")?;
        writeln!(f, "  platform    {}", facts.platform)?;
        writeln!(
            f,
            "  size        {} ({} bytes)",
            megabytes(facts.size),
            facts.size
        )?;
        writeln!(f, "  layers      {}", facts.layers)?;
        let user = if facts.user.is_empty() {
            "root (no USER)"
        } else {
            &facts.user
        };
        writeln!(f, "  user        {user}")?;
        if let Some(binary) = &self.binary {
            writeln!(f, "  binary      {binary}")?;
        }
        writeln!(f, "  build time  {:.1} s", self.build_time.as_secs_f64())?;
        match self.steps {
            Some(s) => writeln!(f, "  cached      {} of {} steps", s.cached, s.total)?,
            None => writeln!(f, "  cached      not counted (no step lines in the output)")?,
        }
        writeln!(
            f,
            "  labels      version {}, revision {}",
            facts.version.as_ref().unwrap_or(&none),
            facts.revision.as_ref().unwrap_or(&none)
        )?;
        if let Some(url) = &self.url {
            writeln!(f, "  url         {url}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    /// Docker 20.10's BuildKit after a source-only change (trimmed): steps 2/6 and 3/6 are not
    /// printed at all because 4/6 is a cache hit.
    const BUILDKIT_PLAIN: &str = "\
#1 [internal] load build definition from Dockerfile.minimal
#1 DONE 0.0s
#3 [internal] load metadata for docker.io/cv-standin/rust:1.95.0
#3 DONE 0.0s
#4 [builder 1/6] FROM docker.io/cv-standin/rust:1.95.0
#4 sha256:c979fd19d2470cfdbd3c97c1da469a0b5107e5935203011fd808097e0c60acfe
#4 DONE 0.0s
#7 [builder 4/6] WORKDIR /src
#7 CACHED
#8 [internal] load build context
#8 DONE 0.3s
#9 [builder 5/6] COPY . .
#9 DONE 0.4s
#10 [builder 6/6] RUN --mount=type=cache,id=cv-target,target=/src/target cargo build --release
#10 0.512    Compiling cv v0.1.0
#10 DONE 71.2s
#11 [minimal 1/2] COPY --from=builder /rootfs/ /
#11 DONE 0.1s
#11 [minimal 1/2] COPY --from=builder /rootfs/ /
#12 [minimal 2/2] WORKDIR /data
#12 DONE 0.0s
#13 exporting to image
#13 DONE 0.2s
";

    #[test]
    fn buildkit_steps_count_what_ran_against_every_stage_total() {
        let count = |cached, total| Some(StepCount { cached, total });
        assert_eq!(count_steps(BUILDKIT_PLAIN), count(4, 8));
        // Everything cached: only the last step of each stage is printed.
        let all = "#4 [builder 1/6] FROM x\n#4 DONE 0.0s\n#9 [builder 6/6] RUN make\n#9 CACHED\n\
                   #11 [minimal 2/2] WORKDIR /data\n#11 CACHED\n";
        assert_eq!(count_steps(all), count(8, 8));
        // --no-cache: every step runs.
        let none =
            "#5 [stage-1 1/2] COPY a /a\n#5 DONE 0.1s\n#6 [stage-1 2/2] COPY b /b\n#6 DONE 0.1s\n";
        assert_eq!(count_steps(none), count(0, 2));
    }

    #[test]
    fn buildah_steps_are_counted() {
        let out = "STEP 1/3: FROM cv-standin/rust:1.95.0\nSTEP 2/3: WORKDIR /src\n--> Using cache 1f2e\nSTEP 3/3: RUN true\n";
        assert_eq!(
            count_steps(out),
            Some(StepCount {
                cached: 1,
                total: 3
            })
        );
    }

    #[test]
    fn quiet_output_has_no_count() {
        assert_eq!(count_steps("sha256:0123\n"), None);
    }

    #[test]
    fn report() {
        let json: Value = serde_json::json!({
            "Id": "sha256:feed",
            "RepoDigests": [],
            "Size": 4_123_456,
            "Os": "linux",
            "Architecture": "amd64",
            "RootFS": { "Layers": ["a", "b", "c"] },
            "Config": { "User": "65532:65532", "Labels": {
                "org.opencontainers.image.version": "0.1.0",
                "org.opencontainers.image.revision": "abc1234"
            } }
        });
        let summary = Summary {
            image: "cv:minimal".into(),
            facts: ImageFacts::from_inspect(&json),
            steps: count_steps(BUILDKIT_PLAIN),
            build_time: Duration::from_millis(41_900),
            pushed: None,
            url: Some("http://127.0.0.1:8080/".into()),
            binary: Some("/usr/local/bin/cv: ELF amd64, static".into()),
        };
        expect![[r#"
            summary:
              image       cv:minimal
              image id    sha256:feed
              digest      none (not pushed)
              platform    linux/amd64
              size        4.12 MB (4123456 bytes)
              layers      3
              user        65532:65532
              binary      /usr/local/bin/cv: ELF amd64, static
              build time  41.9 s
              cached      4 of 8 steps
              labels      version 0.1.0, revision abc1234
              url         http://127.0.0.1:8080/
        "#]]
        .assert_eq(&summary.to_string());
    }
}
