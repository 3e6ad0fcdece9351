//! The output order: kustomize's "legacy" sort by default, or `sortOptions` from the top
//! kustomization (`fifo` keeps the accumulation order; `legacy` may list its own
//! `orderFirst`/`orderLast` kinds).

use super::file::Loaded;
use crate::resource::{ORDER_FIRST, ORDER_LAST, Resource, sort_legacy_with as sort_legacy};

/// Sorts `resources` as the top kustomization asks. The error names a bad `order`.
pub(crate) fn sort(top: &Loaded, resources: &mut [Resource]) -> Result<(), String> {
    let Some(opts) = &top.k.sort_options else {
        sort_legacy(resources, ORDER_FIRST, ORDER_LAST);
        return Ok(());
    };
    match opts.order.as_deref().unwrap_or_default() {
        "fifo" => {
            if opts.legacy_sort_options.is_some() {
                return Err(
                    "`sortOptions.legacySortOptions` is only valid with `order: legacy`".into(),
                );
            }
            Ok(())
        }
        "legacy" => {
            match &opts.legacy_sort_options {
                Some(l) => {
                    let first: Vec<&str> = l.order_first.iter().map(String::as_str).collect();
                    let last: Vec<&str> = l.order_last.iter().map(String::as_str).collect();
                    sort_legacy(resources, &first, &last);
                }
                None => sort_legacy(resources, ORDER_FIRST, ORDER_LAST),
            }
            Ok(())
        }
        other => Err(format!(
            "`sortOptions.order` is `{other}`, expected `legacy` or `fifo`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(ns: &str, name: &str) -> Resource {
        let mut meta = json!({"name": name});
        if !ns.is_empty() {
            meta["namespace"] = json!(ns);
        }
        Resource::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}))
            .unwrap()
    }

    // The order kustomize v5.7.1 printed for the same objects.
    #[test]
    fn no_namespace_sorts_after_namespaces() {
        let mut rs = vec![
            cm("", "b"),
            cm("zz", "a"),
            cm("aa", "c"),
            cm("default", "d"),
            cm("", "a"),
        ];
        sort_legacy(&mut rs, ORDER_FIRST, ORDER_LAST);
        let got: Vec<String> = rs.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            got,
            [
                "ConfigMap/aa/c",
                "ConfigMap/default/d",
                "ConfigMap/zz/a",
                "ConfigMap/a",
                "ConfigMap/b"
            ]
        );
    }

    #[test]
    fn namespace_and_name_compare_as_one_string() {
        // `a-b|x` < `a|x` because `-` sorts before `|`.
        let mut rs = vec![cm("a", "x"), cm("a-b", "x")];
        sort_legacy(&mut rs, ORDER_FIRST, ORDER_LAST);
        assert_eq!(rs[0].namespace(), "a-b");
    }
}
