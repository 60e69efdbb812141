//! `scan --image … --sbom cyclonedx`: a CycloneDX 1.5 JSON bill of materials of the image's
//! binaries, made from the dependency lists they embed (`cargo auditable`).
//!
//! Shape: `metadata.component` is the image (type `container`); each binary with an embedded list
//! is an `application` component (its root package's name and version, its path and SHA-256);
//! every package of those lists is a `library` component with its purl `pkg:cargo/NAME@VERSION`
//! (build-only packages have scope `excluded`: they ran at build time and are not in the binary).
//! `dependencies` is the graph the lists record: image → binaries → their packages' edges.
//!
//! The serial number is a UUID v5 of the image id and the binaries' hashes, so the same image
//! always gets the same document (and a changed image a new serial number).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

use super::image::{Dependencies, Image, Package};

/// The UUID namespace of this project's SBOM serial numbers.
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b1c0f0e_4c554f4e_9c1d6376_5f73626f);

/// Writes the SBOM of `image` to `path`.
pub fn write(image: &Image, path: &Path) -> anyhow::Result<()> {
    let text =
        serde_json::to_string_pretty(&cyclonedx(image)).context("cannot serialise the SBOM")?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write the SBOM to {}", path.display()))
}

/// The CycloneDX 1.5 document of `image`.
pub fn cyclonedx(image: &Image) -> Value {
    let image_ref = format!("image:{}", image.id);
    let mut binaries = Vec::new();
    let mut libraries: BTreeMap<String, Value> = BTreeMap::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut serial_input = image.id.clone();

    for (path, _, elf) in image.binaries() {
        let Dependencies::Embedded(packages) = &elf.dependencies else {
            continue;
        };
        serial_input.push_str(&elf.sha256);
        let binary_ref = format!("file:/{path}");
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let root = packages.iter().find(|p| p.root);
        let mut binary = json!({
            "type": "application",
            "bom-ref": binary_ref,
            "name": root.map_or(file_name, |p| p.name.as_str()),
            "hashes": [{ "alg": "SHA-256", "content": elf.sha256 }],
            "properties": [{ "name": "cv:path", "value": format!("/{path}") }],
        });
        if let Some(root) = root {
            binary["version"] = json!(root.version);
            binary["purl"] = json!(purl(root));
        }
        binaries.push(binary);
        edges
            .entry(image_ref.clone())
            .or_default()
            .insert(binary_ref.clone());

        // Package refs: the root is the binary itself; every other package is a library.
        let refs: Vec<String> = packages
            .iter()
            .map(|p| if p.root { binary_ref.clone() } else { purl(p) })
            .collect();
        for (package, this) in packages.iter().zip(&refs) {
            if !package.root {
                libraries
                    .entry(this.clone())
                    .or_insert_with(|| library(package));
            }
            let depends = edges.entry(this.clone()).or_default();
            depends.extend(
                package
                    .dependencies
                    .iter()
                    .filter_map(|index| refs.get(*index))
                    .filter(|dep| *dep != this)
                    .cloned(),
            );
        }
    }

    let (name, version) = name_and_version(&image.reference);
    let mut components = binaries;
    components.extend(libraries.into_values());
    let dependencies: Vec<Value> = edges
        .into_iter()
        .map(|(from, to)| json!({ "ref": from, "dependsOn": to.into_iter().collect::<Vec<_>>() }))
        .collect();
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid::Uuid::new_v5(&NAMESPACE, serial_input.as_bytes())),
        "version": 1,
        "metadata": {
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "cargo xtask scan",
                    "version": env!("CARGO_PKG_VERSION"),
                }],
            },
            "component": {
                "type": "container",
                "bom-ref": image_ref,
                "name": name,
                "version": version,
                "hashes": [{
                    "alg": "SHA-256",
                    "content": image.id.trim_start_matches("sha256:"),
                }],
                "properties": [
                    { "name": "cv:image:id", "value": image.id },
                    { "name": "cv:image:platform", "value": format!("{}/{}", image.config.os, image.config.architecture) },
                    { "name": "cv:image:layers", "value": image.layers.to_string() },
                ],
            },
        },
        "components": components,
        "dependencies": dependencies,
    })
}

fn purl(package: &Package) -> String {
    format!("pkg:cargo/{}@{}", package.name, package.version)
}

fn library(package: &Package) -> Value {
    json!({
        "type": "library",
        "bom-ref": purl(package),
        "name": package.name,
        "version": package.version,
        "purl": purl(package),
        "scope": if package.build_only { "excluded" } else { "required" },
        "properties": [{ "name": "cv:cargo:source", "value": package.source }],
    })
}

/// `registry/cv:minimal` → (`registry/cv`, `minimal`); `cv@sha256:…` → (`cv`, `sha256:…`).
fn name_and_version(reference: &str) -> (String, String) {
    if let Some((name, digest)) = reference.split_once('@') {
        return (name.to_owned(), digest.to_owned());
    }
    // A colon after the last slash is a tag; one before it is a registry port.
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (reference[..at].to_owned(), reference[at + 1..].to_owned())
        }
        None => (reference.to_owned(), "latest".to_owned()),
    }
}

/// The official schemas' validator the integration tests share (tests/common/schema.rs).
#[cfg(test)]
#[path = "../../tests/common/schema.rs"]
mod schema;

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use serde_json::Value;

    use super::super::image::Image;
    use super::super::image::testing::{Entry, config, dep_json, docker_archive, elf, layer};
    use super::{cyclonedx, name_and_version, schema};

    /// An image with two audited binaries sharing `serde`, and a shell script.
    fn image() -> Image {
        let app = elf(None, Some(&dep_json(("itoa", "1.0.1"))), b"");
        let tool = elf(None, Some(&dep_json(("ryu", "1.0.18"))), b"");
        let archive = docker_archive(
            "registry.local:5000/cv:1.2",
            &config("65532", &[]),
            &[layer(&[
                Entry::File("usr/local/bin/app", 0o755, &app),
                Entry::File("usr/local/bin/tool", 0o755, &tool),
                Entry::File("usr/local/bin/run.sh", 0o755, b"#!/bin/sh\n"),
            ])],
        );
        Image::read("registry.local:5000/cv:1.2", Cursor::new(archive), &[]).expect("reads")
    }

    #[test]
    fn the_sbom_validates_against_cyclonedx_1_5_and_lists_every_embedded_package() {
        let bom = cyclonedx(&image());
        if let Err(errors) = schema::validate(schema::Schema::CycloneDx15, &bom) {
            panic!("not valid CycloneDX 1.5:\n{}", errors.join("\n"));
        }
        let mut broken = bom.clone();
        broken["components"][0]["type"] = "binary".into();
        assert!(
            schema::validate(schema::Schema::CycloneDx15, &broken).is_err(),
            "the validator accepts anything"
        );
        assert_eq!(bom["metadata"]["component"]["type"], "container");
        assert_eq!(
            bom["metadata"]["component"]["name"],
            "registry.local:5000/cv"
        );
        assert_eq!(bom["metadata"]["component"]["version"], "1.2");
        let components: Vec<(String, String, String)> = bom["components"]
            .as_array()
            .expect("components")
            .iter()
            .map(|c| {
                let text = |key: &str| c[key].as_str().unwrap_or_default().to_owned();
                (text("type"), text("purl"), text("scope"))
            })
            .collect();
        let want: Vec<(String, String, String)> = [
            ("application", "pkg:cargo/app@0.1.0", ""),
            ("application", "pkg:cargo/app@0.1.0", ""),
            ("library", "pkg:cargo/itoa@1.0.1", "required"),
            ("library", "pkg:cargo/ryu@1.0.18", "required"),
            ("library", "pkg:cargo/serde@1.0.200", "required"),
            ("library", "pkg:cargo/serde_derive@1.0.200", "excluded"),
        ]
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
        assert_eq!(components, want);
    }

    #[test]
    fn the_dependency_graph_follows_the_embedded_indices() {
        let bom = cyclonedx(&image());
        let edges = |from: &str| -> Vec<String> {
            bom["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .find(|d| d["ref"] == from)
                .map(|d| {
                    d["dependsOn"]
                        .as_array()
                        .expect("dependsOn")
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_else(|| panic!("no entry for {from}"))
        };
        let image_ref = bom["metadata"]["component"]["bom-ref"]
            .as_str()
            .expect("a ref");
        assert_eq!(
            edges(image_ref),
            ["file:/usr/local/bin/app", "file:/usr/local/bin/tool"]
        );
        assert_eq!(
            edges("file:/usr/local/bin/app"),
            ["pkg:cargo/itoa@1.0.1", "pkg:cargo/serde@1.0.200"]
        );
        assert_eq!(
            edges("pkg:cargo/serde@1.0.200"),
            ["pkg:cargo/serde_derive@1.0.200"]
        );
        assert!(edges("pkg:cargo/itoa@1.0.1").is_empty());
    }

    #[test]
    fn the_same_image_gets_the_same_serial_number() {
        let (a, b) = (cyclonedx(&image()), cyclonedx(&image()));
        assert_eq!(a["serialNumber"], b["serialNumber"]);
        assert!(
            a["serialNumber"]
                .as_str()
                .is_some_and(|s| s.starts_with("urn:uuid:"))
        );
    }

    #[test]
    fn image_references_split_into_name_and_version() {
        let split = |r: &str| {
            let (name, version) = name_and_version(r);
            format!("{name} {version}")
        };
        assert_eq!(split("cv:minimal"), "cv minimal");
        assert_eq!(split("127.0.0.1:5000/cv"), "127.0.0.1:5000/cv latest");
        assert_eq!(split("127.0.0.1:5000/cv:1"), "127.0.0.1:5000/cv 1");
        assert_eq!(split("cv@sha256:abc"), "cv sha256:abc");
    }
}
