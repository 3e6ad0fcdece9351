//! kustomize's `images:` transform.
//!
//! Like kustomize, every sequence held by a field named `containers` or `initContainers`,
//! at any depth and in any kind (custom resources included), has the `image` of each of its
//! elements checked; `ephemeralContainers` are left alone. Image volumes
//! (`volumes[].image.reference`) are checked in `spec` and `spec.template.spec` (kustomize
//! 5.7 does not reach CronJobs' yet). Entries apply one after the other, so a later entry
//! sees the result of an earlier one.

use regex::Regex;
use serde_json::Value;

use super::{ImageSpec, fieldspec};
use crate::resource::Resource;

/// Applies `images:` entries to every container and initContainer.
pub(crate) fn set_images(resources: &mut [Resource], images: &[ImageSpec]) {
    for spec in images {
        let Some(matcher) = Matcher::new(&spec.name) else {
            continue;
        };
        let mut set = |image: &mut String| {
            if matcher.matches(image) {
                *image = update(image, spec);
            }
        };
        for r in resources.iter_mut() {
            for v in r.as_object_mut().values_mut() {
                walk(v, &mut set);
            }
            for path in IMAGE_VOLUMES {
                fieldspec::visit(
                    r.as_object_mut(),
                    &fieldspec::split_path(path),
                    false,
                    &mut |parent, key| {
                        if let Some(Value::String(image)) = parent.get_mut(key) {
                            set(image);
                        }
                    },
                );
            }
        }
    }
}

/// Where kustomize looks for image volume references.
const IMAGE_VOLUMES: &[&str] = &[
    "spec/volumes[]/image/reference",
    "spec/template/spec/volumes[]/image/reference",
];

/// kustomize's match: the entry's name (a regular expression) followed by an optional
/// tag and an optional `@sha256:` digest.
struct Matcher(Regex);

impl Matcher {
    fn new(name: &str) -> Option<Matcher> {
        let pattern = format!("^{name}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$");
        // A name that is not a valid regular expression is matched literally.
        let re = Regex::new(&pattern).or_else(|_| {
            Regex::new(&format!(
                "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
                regex::escape(name)
            ))
        });
        re.ok().map(Matcher)
    }

    fn matches(&self, image: &str) -> bool {
        self.0.is_match(image)
    }
}

/// Calls `f` on the `image` of every element of a `containers`/`initContainers` sequence.
fn walk(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                walk(child, f);
                if (k == "containers" || k == "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items {
                        if let Some(Value::String(image)) = item.get_mut("image") {
                            f(image);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, f);
            }
        }
        _ => {}
    }
}

/// Splits `[host[:port]/]path[:tag][@digest]` into name, tag and digest (empty when absent).
pub(crate) fn split(image: &str) -> (&str, &str, &str) {
    // A `:` before the first `/` belongs to the registry's port, not to a tag.
    let search_from = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let rest = &image[search_from..];
    let at = rest.find('@').map(|i| i + search_from);
    let colon = rest.find(':').map(|i| i + search_from);
    match (colon, at) {
        (None, None) => (image, "", ""),
        (c, Some(a)) if c.is_none_or(|c| a < c) => (&image[..a], "", &image[a + 1..]),
        (Some(c), Some(a)) => (&image[..c], &image[c + 1..a], &image[a + 1..]),
        (Some(c), None) => (&image[..c], &image[c + 1..], ""),
        (None, Some(_)) => unreachable!("handled above"),
    }
}

fn update(image: &str, spec: &ImageSpec) -> String {
    let (name, mut tag, mut digest) = split(image);
    let name = match spec.new_name.as_deref() {
        Some(n) if !n.is_empty() => n,
        _ => name,
    };
    let new_tag = spec.new_tag.as_deref().unwrap_or_default();
    let new_digest = spec.digest.as_deref().unwrap_or_default();
    match (new_tag.is_empty(), new_digest.is_empty()) {
        (false, false) => (tag, digest) = (new_tag, new_digest),
        (false, true) => (tag, digest) = (new_tag, ""),
        (true, false) => (tag, digest) = ("", new_digest),
        (true, true) => {}
    }
    let mut out = name.to_string();
    if !tag.is_empty() {
        out.push(':');
        out.push_str(tag);
    }
    if !digest.is_empty() {
        out.push('@');
        out.push_str(digest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::testutil::resources;

    fn img(
        name: &str,
        new_name: Option<&str>,
        new_tag: Option<&str>,
        digest: Option<&str>,
    ) -> ImageSpec {
        ImageSpec {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: new_tag.map(Into::into),
            digest: digest.map(Into::into),
        }
    }

    #[test]
    fn split_handles_ports_tags_and_digests() {
        assert_eq!(split("nginx"), ("nginx", "", ""));
        assert_eq!(split("nginx:1.0"), ("nginx", "1.0", ""));
        assert_eq!(split("nginx@sha256:aa"), ("nginx", "", "sha256:aa"));
        assert_eq!(split("nginx:1.0@sha256:aa"), ("nginx", "1.0", "sha256:aa"));
        assert_eq!(
            split("localhost:5000/app:1"),
            ("localhost:5000/app", "1", "")
        );
        assert_eq!(split("localhost:5000/app"), ("localhost:5000/app", "", ""));
    }

    /// The same cases, checked against `kustomize build`.
    #[test]
    fn matches_and_rewrites_like_kustomize() {
        let mut rs = resources(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      volumes:
      - {name: v, image: {reference: "nginx:1"}}
      - {name: w, emptyDir: {}}
      initContainers:
      - {name: i, image: nginx}
      ephemeralContainers:
      - {name: e, image: nginx}
      containers:
      - {name: a, image: "nginx:1.0"}
      - {name: b, image: "nginx@sha256:aaaa"}
      - {name: c, image: "nginx:1.0@sha256:aaaa"}
      - {name: d, image: "localhost:5000/app:1"}
      - {name: e, image: "localhost:5000/app"}
      - {name: f, image: "nginxx:1"}
      - {name: g, image: "docker.io/nginx:1"}
      - {name: h, image: "busybox:1"}
      - {name: i, image: "redis:1"}
      - {name: j, image: "alpine:3"}
      - {name: k, image: "postgres"}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  deep:
    containers:
    - {name: a, image: nginx}
    other:
    - {image: nginx}
    initContainers:
    - {image: nginx}
  image: nginx
"#,
        );
        set_images(
            &mut rs,
            &[
                img("nginx", None, Some("2.0"), None),
                img(
                    "localhost:5000/app",
                    Some("reg.io/app"),
                    None,
                    Some("sha256:bbbb"),
                ),
                img("busybox", None, Some("t"), Some("sha256:cccc")),
                img("redis", Some("myredis"), None, None),
                img("alp.ne", None, Some("x"), None),
                img("postgres", None, None, Some("sha256:dddd")),
            ],
        );
        let d = rs[0].to_value();
        let images: Vec<&str> = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["image"].as_str().unwrap())
            .collect();
        assert_eq!(
            images,
            [
                "nginx:2.0",
                "nginx:2.0",
                "nginx:2.0",
                "reg.io/app@sha256:bbbb",
                "reg.io/app@sha256:bbbb",
                "nginxx:1",
                "docker.io/nginx:1",
                "busybox:t@sha256:cccc",
                "myredis:1",
                "alpine:x",
                "postgres@sha256:dddd",
            ]
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["initContainers"][0]["image"],
            "nginx:2.0"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["ephemeralContainers"][0]["image"],
            "nginx"
        );
        let w = rs[1].to_value();
        assert_eq!(w["spec"]["deep"]["containers"][0]["image"], "nginx:2.0");
        assert_eq!(w["spec"]["deep"]["initContainers"][0]["image"], "nginx:2.0");
        assert_eq!(w["spec"]["deep"]["other"][0]["image"], "nginx");
        assert_eq!(w["spec"]["image"], "nginx");
    }

    #[test]
    fn resolved_reference_carries_tag_and_digest() {
        assert_eq!(
            img("a", Some("b"), Some("1"), None).resolved_reference(),
            "b:1"
        );
        assert_eq!(
            img("a", None, Some("1"), Some("sha256:x")).resolved_reference(),
            "a:1@sha256:x"
        );
        assert_eq!(
            img("a", None, None, Some("sha256:x")).resolved_reference(),
            "a@sha256:x"
        );
        assert_eq!(img("a", None, None, None).resolved_reference(), "a");
    }
}
