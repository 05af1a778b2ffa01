# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
A structural check of DDS-Security governance and permissions documents.

Follows the element order, counts and value types of the OMG DDS-Security 1.1 schemas
(``omg_shared_ca_governance.xsd``, ``omg_shared_ca_permissions.xsd``) for what a
keystore holds: a document that passes is one Fast DDS's parser accepts. Written as a table
here rather than run through an XSD validator, which would need lxml and the schema files.
Criteria's ``xs:all`` is checked as a sequence (topics, partitions, data_tags).
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Dict, Tuple, Union
import xml.etree.ElementTree as ET

__all__ = ['SchemaError', 'validate', 'GOVERNANCE', 'PERMISSIONS']

UNBOUNDED = 1 << 30


class SchemaError(ValueError):
    """A document does not follow the DDS-Security schema; the message gives the path."""


def _enum(*values: str) -> Callable[[str], bool]:
    return lambda text: text in values


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        return False
    return True


# Simple types: name -> predicate on the stripped text.
TYPES: Dict[str, Callable[[str], bool]] = {
    'string': lambda text: True,
    'boolean': _enum('true', 'false', '1', '0'),
    'domain_id': str.isdigit,
    'datetime': _is_datetime,
    'protection': _enum('ENCRYPT_WITH_ORIGIN_AUTHENTICATION', 'SIGN_WITH_ORIGIN_AUTHENTICATION',
                        'ENCRYPT', 'SIGN', 'NONE'),
    'basic_protection': _enum('ENCRYPT', 'SIGN', 'NONE'),
    'default_action': _enum('ALLOW', 'DENY'),
}

# A complex type is a sequence of particles: ({element name: its type}, min, max). Several
# names make a choice; a type is a complex type of the schema or a simple one from TYPES.
Particle = Tuple[Dict[str, str], int, int]
Schema = Dict[str, Tuple[Particle, ...]]


def _p(names: str, low: int, high: int, type_: str) -> Particle:
    """Return a particle: ``names`` 'a|b' share ``type_``; 'a=t1|b=t2' give one each."""
    types = {}
    for name in names.split('|'):
        name, _, own = name.partition('=')
        types[name] = own or type_
    return types, low, high


_DOMAINS: Schema = {
    'DomainIdSet': (_p('id=domain_id|id_range=DomainIdRange', 1, UNBOUNDED, ''),),
    'DomainIdRange': (_p('min', 0, 1, 'domain_id'), _p('max', 0, 1, 'domain_id')),
}
GOVERNANCE: Schema = {
    'dds': (_p('domain_access_rules', 1, 1, 'DomainAccessRules'),),
    'DomainAccessRules': (_p('domain_rule', 1, UNBOUNDED, 'DomainRule'),),
    'DomainRule': (
        _p('domains', 1, 1, 'DomainIdSet'),
        _p('allow_unauthenticated_participants', 1, 1, 'boolean'),
        _p('enable_join_access_control', 1, 1, 'boolean'),
        _p('discovery_protection_kind', 1, 1, 'protection'),
        _p('liveliness_protection_kind', 1, 1, 'protection'),
        _p('rtps_protection_kind', 1, 1, 'protection'),
        _p('topic_access_rules', 1, 1, 'TopicAccessRules')),
    'TopicAccessRules': (_p('topic_rule', 1, UNBOUNDED, 'TopicRule'),),
    'TopicRule': (
        _p('topic_expression', 1, 1, 'string'),
        _p('enable_discovery_protection', 1, 1, 'boolean'),
        _p('enable_liveliness_protection', 1, 1, 'boolean'),
        _p('enable_read_access_control', 1, 1, 'boolean'),
        _p('enable_write_access_control', 1, 1, 'boolean'),
        _p('metadata_protection_kind', 1, 1, 'protection'),
        _p('data_protection_kind', 1, 1, 'basic_protection')),
    **_DOMAINS,
}
PERMISSIONS: Schema = {
    'dds': (_p('permissions', 1, 1, 'Permissions'),),
    'Permissions': (_p('grant', 1, UNBOUNDED, 'Grant'),),
    'Grant': (
        _p('subject_name', 1, 1, 'string'),
        _p('validity', 1, 1, 'Validity'),
        _p('allow_rule|deny_rule', 1, UNBOUNDED, 'Rule'),
        _p('default', 1, 1, 'default_action')),
    'Validity': (_p('not_before', 1, 1, 'datetime'), _p('not_after', 1, 1, 'datetime')),
    'Rule': (
        _p('domains', 1, 1, 'DomainIdSet'),
        _p('publish', 0, UNBOUNDED, 'Criteria'),
        _p('subscribe', 0, UNBOUNDED, 'Criteria'),
        _p('relay', 0, UNBOUNDED, 'Criteria')),
    'Criteria': (
        _p('topics', 1, 1, 'TopicExpressionList'),
        _p('partitions', 0, 1, 'PartitionExpressionList'),
        _p('data_tags', 0, 1, 'DataTags')),
    'TopicExpressionList': (_p('topic', 1, UNBOUNDED, 'string'),),
    'PartitionExpressionList': (_p('partition', 1, UNBOUNDED, 'string'),),
    'DataTags': (_p('tag', 1, UNBOUNDED, 'Tag'),),
    'Tag': (_p('name', 1, 1, 'string'), _p('value', 1, 1, 'string')),
    **_DOMAINS,
}
# Attributes a complex type requires.
_REQUIRED_ATTRIBUTES = {'Grant': ('name',)}


def validate(document: Union[bytes, str, ET.Element], schema: Schema) -> ET.Element:
    """Parse (if needed) and check ``document`` against ``schema``; return its root element."""
    if isinstance(document, ET.Element):
        root = document
    else:
        try:
            root = ET.fromstring(document)
        except ET.ParseError as exc:
            raise SchemaError(f'not well-formed XML: {exc}') from None
    if root.tag != 'dds':
        raise SchemaError(f'root element is <{root.tag}>, expected <dds>')
    _check(root, 'dds', schema, '/dds')
    return root


def _check(element: ET.Element, type_: str, schema: Schema, path: str) -> None:
    if type_ in TYPES:
        if len(element):
            raise SchemaError(f'{path}: expected text, found child <{element[0].tag}>')
        text = (element.text or '').strip()
        if not TYPES[type_](text):
            raise SchemaError(f'{path}: {text!r} is not a valid {type_}')
        return
    for name in _REQUIRED_ATTRIBUTES.get(type_, ()):
        if not element.get(name):
            raise SchemaError(f'{path}: missing attribute {name!r}')
    if (element.text or '').strip():
        raise SchemaError(f'{path}: unexpected text {element.text.strip()[:40]!r}')
    children = list(element)
    index = 0
    for names, low, high in schema[type_]:
        count = 0
        while index < len(children) and children[index].tag in names and count < high:
            child = children[index]
            _check(child, names[child.tag], schema, f'{path}/{child.tag}')
            index, count = index + 1, count + 1
        if count < low:
            found = f'<{children[index].tag}>' if index < len(children) else 'the end'
            raise SchemaError(f'{path}: expected <{"|".join(sorted(names))}>, found {found}')
    if index < len(children):
        raise SchemaError(f'{path}: unexpected element <{children[index].tag}>')
