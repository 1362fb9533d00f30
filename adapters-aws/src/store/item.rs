//! Building and reading items: values are JSON strings of the ports'
//! serde forms (exact: money stays decimal text), keys and index attributes
//! plain strings and numbers.

use crate::error::corrupt;
use aws_sdk_dynamodb::types::AttributeValue;
use hammerfall_ports::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// An item or key, as the SDK takes it.
pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A key (`PK`, `SK`).
pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([
        (crate::keys::PK.to_owned(), s(pk)),
        (crate::keys::SK.to_owned(), s(sk)),
    ])
}

/// JSON text of a value of the ports (their serde forms never fail).
pub(crate) fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt(format!("cannot encode: {e}")))
}

/// A string attribute.
pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Ok(text),
        Some(_) => Err(corrupt(format!("attribute {name} is not a string"))),
        None => Err(corrupt(format!("attribute {name} is missing"))),
    }
}

/// A JSON attribute, decoded.
pub(crate) fn decode<T: DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    let text = get_s(item, name)?;
    serde_json::from_str(text).map_err(|e| corrupt(format!("attribute {name}: {e}")))
}

/// An upper bound of an item's size as DynamoDB counts it (names plus
/// values; a number counts as its text, which is at least its stored size).
pub(crate) fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(text) | AttributeValue::N(text) => text.len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| k.len() + 1 + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::Ss(set) | AttributeValue::Ns(set) => set.iter().map(String::len).sum(),
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}
