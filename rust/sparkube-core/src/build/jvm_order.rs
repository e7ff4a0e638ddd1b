//! The order in which spark-submit 4.3.0 lists what it reads from its conf by prefix.
//!
//! Spark reads `spark.kubernetes.driverEnv.*`, `spark.kubernetes.driver.secrets.*`,
//! `spark.kubernetes.driver.secretKeyRef.*` and `spark.kubernetes.driver.volumes.*` through a
//! chain of JVM collections, and the driver pod's env vars and volumes come out in their
//! iteration order, which is neither the order of the `--conf`s nor sorted:
//!
//! 1. `SparkConf.getAll` maps the entries of its `ConcurrentHashMap` into a Scala 2.13
//!    `mutable.HashSet` of `(key, value)` tuples: hash buckets of the tuple's hash, a table
//!    of 16 that doubles as the conf grows, so the order depends on the keys, the values and
//!    how many entries the conf has ([`get_all_with_prefix`]).
//! 2. `getAllWithPrefix(..).toMap` builds a Scala immutable `Map`: up to four entries keep
//!    their insertion order (`Map1`..`Map4`), more go into a hash trie (CHAMP) iterated in the
//!    order of the key's hash ([`immutable_order`]).
//! 3. Volumes go on through two immutable `Set`s (of `(type, name)` pairs, then of
//!    `KubernetesVolumeSpec`s) with the same rule; a volume spec's hash is its case class
//!    hash ([`product_hash`] and friends).
//!
//! Each function here reproduces one of these rules from the documented hashing of Java and
//! Scala 2.13 (`String.hashCode`, MurmurHash3 as `scala.runtime.Statics` mixes it), so that
//! `sparkube render` lists them exactly as spark-submit does.

use crate::conf::SparkConf;

/// `java.lang.String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `Boolean.hashCode`, which Scala's case class hash uses for a `Boolean` field.
pub fn java_bool_hash(b: bool) -> i32 {
    if b { 1231 } else { 1237 }
}

/// The seed of Scala's product (case class and tuple) hash, `0xcafebabe`.
const PRODUCT_SEED: u32 = 0xcafe_babe;

fn mix_last(hash: u32, data: u32) -> u32 {
    let k = data
        .wrapping_mul(0xcc9e_2d51)
        .rotate_left(15)
        .wrapping_mul(0x1b87_3593);
    hash ^ k
}

fn mix(hash: u32, data: u32) -> u32 {
    mix_last(hash, data)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

fn finalize_hash(hash: u32, length: u32) -> i32 {
    let mut h = hash ^ length;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h as i32
}

/// The hash of a Scala case class (or tuple) named `prefix` whose fields hash to `fields`.
pub fn product_hash(prefix: &str, fields: &[i32]) -> i32 {
    let mut h = mix(PRODUCT_SEED, java_string_hash(prefix) as u32);
    for field in fields {
        h = mix(h, *field as u32);
    }
    finalize_hash(h, fields.len() as u32)
}

/// The hash of the Scala tuple `(a, b)` of two strings.
pub fn tuple2_hash(a: &str, b: &str) -> i32 {
    product_hash("Tuple2", &[java_string_hash(a), java_string_hash(b)])
}

/// The hash of a Scala `Option` whose content hashes to `inner`: `Some(x)` is a case class,
/// `None` hashes as its name.
pub fn option_hash(inner: Option<i32>) -> i32 {
    match inner {
        Some(h) => product_hash("Some", &[h]),
        None => java_string_hash("None"),
    }
}

/// The hash of an `Option[String]`.
pub fn option_string_hash(value: Option<&str>) -> i32 {
    option_hash(value.map(java_string_hash))
}

/// The hash of a Scala immutable `Map[String, String]`: an order-independent mix of its
/// entries' tuple hashes (sum, xor, product of odd values, count).
pub fn map_hash(entries: &[(String, String)]) -> i32 {
    let (mut sum, mut xor, mut product) = (0u32, 0u32, 1u32);
    for (k, v) in entries {
        let h = tuple2_hash(k, v) as u32;
        sum = sum.wrapping_add(h);
        xor ^= h;
        product = product.wrapping_mul(h | 1);
    }
    let mut h = mix(java_string_hash("Map") as u32, sum);
    h = mix(h, xor);
    h = mix_last(h, product);
    finalize_hash(h, entries.len() as u32)
}

/// The table size of a Scala `mutable.HashSet` built by adding `entries` elements one by one
/// to a new one (16 buckets, doubled before an add would reach three quarters).
pub fn hash_set_table_size(entries: usize) -> usize {
    let mut size = 16;
    // Doubled when the add of element number `threshold` is about to happen.
    while entries >= size * 3 / 4 {
        size *= 2;
    }
    size
}

/// `SparkConf.getAllWithPrefix(prefix)`: the entries under `prefix` (prefix stripped) in the
/// order of the `mutable.HashSet` of `(key, value)` tuples that `getAll` builds from a conf of
/// `conf_entries` entries: by bucket (the spread hash masked by the table size), then by hash.
pub fn get_all_with_prefix<'a>(
    conf: &'a SparkConf,
    prefix: &str,
    conf_entries: usize,
) -> Vec<(&'a str, &'a str)> {
    let mask = hash_set_table_size(conf_entries) as i32 - 1;
    let mut entries: Vec<(i32, &'a str, &'a str)> = conf
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| {
            let h = tuple2_hash(k, v);
            (h ^ ((h as u32) >> 16) as i32, k, v)
        })
        .collect();
    entries.sort_by_key(|(h, _, _)| (h & mask, *h));
    entries
        .into_iter()
        .map(|(_, k, v)| (&k[prefix.len()..], v))
        .collect()
}

/// The iteration order of a Scala 2.13 immutable `Map` or `Set` built from `items` in order:
/// up to four keep that order; more are ordered by `hash` of each (the key's `##`) as a hash
/// trie lays them out ([`champ_order`]).
pub fn immutable_order<T>(items: Vec<T>, hash: impl Fn(&T) -> i32) -> Vec<T> {
    if items.len() <= 4 {
        return items;
    }
    let hashed = items.into_iter().map(|item| (hash(&item), item)).collect();
    champ_order(hashed)
}

/// The improvement Scala's immutable hash trie applies to a key's `##`.
fn improve(hash: i32) -> u32 {
    let mut h = hash.wrapping_add(!(hash << 9));
    h ^= ((h as u32) >> 14) as i32;
    h = h.wrapping_add(h << 4);
    (h ^ ((h as u32) >> 10) as i32) as u32
}

/// The iteration order of a CHAMP hash trie (Scala 2.13's immutable `HashMap`/`HashSet`)
/// holding `items` with their `##`: at each level the improved hash picks one of 32 slots by
/// five bits (lowest first); a node lists the items alone in their slot (by slot), then the
/// sub-tries of the shared slots (by slot). Items with the same full hash keep their order.
fn champ_order<T>(items: Vec<(i32, T)>) -> Vec<T> {
    fn walk<T>(items: Vec<(u32, T)>, shift: u32, out: &mut Vec<T>) {
        if shift >= 32 || items.len() <= 1 {
            out.extend(items.into_iter().map(|(_, item)| item));
            return;
        }
        let mut slots: Vec<Vec<(u32, T)>> = (0..32).map(|_| Vec::new()).collect();
        for (h, item) in items {
            slots[((h >> shift) & 31) as usize].push((h, item));
        }
        let (alone, shared): (Vec<_>, Vec<_>) = slots.into_iter().partition(|s| s.len() == 1);
        for slot in alone {
            out.extend(slot.into_iter().map(|(_, item)| item));
        }
        for slot in shared.into_iter().filter(|s| !s.is_empty()) {
            walk(slot, shift + 5, out);
        }
    }
    let mut out = Vec::with_capacity(items.len());
    walk(
        items
            .into_iter()
            .map(|(h, item)| (improve(h), item))
            .collect(),
        0,
        &mut out,
    );
    out
}

/// `KubernetesUtils.parsePrefixedKeyValuePairs`: `getAllWithPrefix(prefix).toMap`, as
/// (rest of the key, value) in the order Spark iterates the map.
pub fn prefixed_pairs<'a>(
    conf: &'a SparkConf,
    prefix: &str,
    conf_entries: usize,
) -> Vec<(&'a str, &'a str)> {
    immutable_order(get_all_with_prefix(conf, prefix, conf_entries), |(k, _)| {
        java_string_hash(k)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_is_javas() {
        // Values printed by the JVM's String.hashCode.
        for (s, want) in [
            ("", 0),
            ("None", 2_433_880),
            ("spark.kubernetes.driverEnv.ZED", -58_242_567),
            ("spark.kubernetes.driverEnv.ALPHA", -159_397_698),
            ("spark.kubernetes.driverEnv.WITH_EQUALS", -375_591_720),
        ] {
            assert_eq!(java_string_hash(s), want, "{s}");
        }
    }

    #[test]
    fn case_class_hashes_are_scalas() {
        // KubernetesHostPathVolumeConf("/x", "") and KubernetesPVCVolumeConf("c", None, None,
        // Some(Map()), Some(Map())), hashed by the JVM.
        let host = product_hash(
            "KubernetesHostPathVolumeConf",
            &[java_string_hash("/x"), java_string_hash("")],
        );
        assert_eq!(host, -232_055_939);
        let empty = option_hash(Some(map_hash(&[])));
        let pvc = product_hash(
            "KubernetesPVCVolumeConf",
            &[
                java_string_hash("c"),
                option_string_hash(None),
                option_string_hash(None),
                empty,
                empty,
            ],
        );
        assert_eq!(pvc, -2_087_592_931);
        let spec = product_hash(
            "KubernetesVolumeSpec",
            &[
                java_string_hash("pv"),
                java_string_hash("/p"),
                java_string_hash(""),
                java_string_hash(""),
                java_bool_hash(false),
                pvc,
            ],
        );
        assert_eq!(spec, -521_650_869);
    }

    #[test]
    fn table_size_doubles_before_three_quarters() {
        for (entries, size) in [
            (0, 16),
            (11, 16),
            (12, 32),
            (23, 32),
            (24, 64),
            (47, 64),
            (48, 128),
        ] {
            assert_eq!(hash_set_table_size(entries), size, "{entries}");
        }
    }

    fn filled(pairs: &[(&str, &str)], entries: usize) -> SparkConf {
        let mut conf: SparkConf = pairs.iter().copied().collect();
        for i in 0..entries - pairs.len() {
            conf.set(format!("spark.filler.k{i}"), format!("v{i}"));
        }
        conf
    }

    #[test]
    fn prefixed_pairs_follow_the_jvm() {
        // Orders printed by KubernetesUtils.parsePrefixedKeyValuePairs on a SparkConf holding
        // these entries and `spark.filler.k<i>=v<i>` up to the given size.
        const ENV: &str = "spark.kubernetes.driverEnv.";
        let env = [
            ("spark.kubernetes.driverEnv.ZED", "last"),
            ("spark.kubernetes.driverEnv.ALPHA", "first"),
            ("spark.kubernetes.driverEnv.WITH_EQUALS", "a=b"),
        ];
        for (entries, want) in [
            (3, ["ZED", "WITH_EQUALS", "ALPHA"]),
            (11, ["ZED", "WITH_EQUALS", "ALPHA"]),
            (12, ["ZED", "ALPHA", "WITH_EQUALS"]),
            (23, ["ZED", "ALPHA", "WITH_EQUALS"]),
            (24, ["WITH_EQUALS", "ZED", "ALPHA"]),
        ] {
            let conf = filled(&env, entries);
            let got: Vec<&str> = prefixed_pairs(&conf, ENV, conf.len())
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            assert_eq!(got, want, "{entries} entries");
        }
    }

    #[test]
    fn secrets_follow_the_jvm() {
        // parsePrefixedKeyValuePairs of 3 to 6 secrets in a conf of 20 entries, in the JVM.
        const S: &str = "spark.kubernetes.driver.secrets.";
        let names = ["db-creds", "tls", "api-keys", "ssh", "gcp", "aws"];
        for (count, want) in [
            (3, &["tls", "db-creds", "api-keys"][..]),
            (4, &["tls", "db-creds", "ssh", "api-keys"]),
            (5, &["api-keys", "ssh", "gcp", "db-creds", "tls"]),
            (6, &["api-keys", "aws", "ssh", "gcp", "db-creds", "tls"]),
        ] {
            let keys: Vec<(String, String)> = names[..count]
                .iter()
                .map(|n| (format!("{S}{n}"), format!("/etc/{n}")))
                .collect();
            let pairs: Vec<(&str, &str)> =
                keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let conf = filled(&pairs, 20);
            let got: Vec<&str> = prefixed_pairs(&conf, S, conf.len())
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            assert_eq!(got, want, "{count} secrets");
        }
    }

    #[test]
    fn more_than_four_follow_the_hash_trie() {
        // The JVM's order of a Map of these six keys.
        let keys = ["a-one", "b-two", "c-three", "d-four", "e-five", "f-six"];
        let got = immutable_order(keys.to_vec(), |k| java_string_hash(k));
        assert_eq!(
            got,
            ["a-one", "c-three", "d-four", "b-two", "e-five", "f-six"]
        );
        // Four or fewer keep their order.
        let got = immutable_order(keys[..4].to_vec(), |k| java_string_hash(k));
        assert_eq!(got, keys[..4]);
    }
}
