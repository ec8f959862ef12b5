"""Editing the image in kustomizations, Helm values and manifests: only the value changes, byte for byte."""

from __future__ import annotations

import pytest
import yaml

from hoist.deploy.gitops_yaml import apply, read
from hoist.errors import InputError
from hoist.promotion.gitops_config import parse_edit, parse_path

REPO = "ghcr.io/acme/dotca"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

KUSTOMIZATION = """\
# Production overlay: Argo CD applies this directory.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml   # the app
images:
  - name: redis
    newTag: "7.2"
  - name: dotca            # the name deployment.yaml uses
    newName: ghcr.io/acme/dotca
    newTag: "1.0"          # kept: the digest decides what runs
"""

VALUES = """\
# Default values for dotca.
replicaCount: 2   # two pods

image:
  # where the image lives
  repository: ghcr.io/acme/dotca
  tag: "1.4.2"      # ignored once digest is set
  digest: ""        # hoist writes this
  pullPolicy: IfNotPresent

service:
  port: 80
"""

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dotca
spec:
  template:
    spec:
      containers:
        - name: app
          image: 'ghcr.io/acme/dotca:1.0'   # pinned by hoist
---
apiVersion: v1
kind: Service
metadata:
  name: dotca
"""


def edit(text: str, how: str, digest: str = D1, repository: str = REPO) -> str:
    return apply(text, parse_edit(how), repository=repository, digest=digest, file="f.yaml")


def test_kustomize_adds_the_digest_to_the_matching_entry_only() -> None:
    out = edit(KUSTOMIZATION, "kustomize")
    expected = KUSTOMIZATION.replace(
        '    newTag: "1.0"          # kept: the digest decides what runs\n',
        f'    newTag: "1.0"          # kept: the digest decides what runs\n    digest: {D1}\n',
    )
    assert out == expected
    again = edit(out, "kustomize", D2)
    assert again == expected.replace(D1, D2)
    assert read(again, parse_edit("kustomize"), repository=REPO, file="f").digest == D2
    assert edit(again, "kustomize", D2) == again  # nothing to change


def test_kustomize_by_entry_name_and_newname_follows_the_promoted_repository() -> None:
    out = edit(KUSTOMIZATION, "kustomize:redis", repository="registry.example/mirror/redis")
    data = yaml.safe_load(out)
    assert data["images"][0] == {
        "name": "redis",
        "newTag": "7.2",
        "newName": "registry.example/mirror/redis",
        "digest": D1,
    }
    assert data["images"][1] == yaml.safe_load(KUSTOMIZATION)["images"][1]
    assert out.startswith("# Production overlay")


def test_kustomize_entry_missing_names_the_entries() -> None:
    with pytest.raises(InputError, match=r"no images: entry named ghcr.io/acme/other \(entries: redis, dotca\)"):
        edit(KUSTOMIZATION, "kustomize", repository="ghcr.io/acme/other")
    with pytest.raises(InputError, match="has no images: list"):
        edit("resources: [a.yaml]\n", "kustomize")


def test_helm_values_keep_every_other_byte() -> None:
    out = edit(VALUES, "helm:image.digest")
    assert out == VALUES.replace('digest: ""', f'digest: "{D1}"')
    assert edit(out, "helm:image.digest", D2) == VALUES.replace('digest: ""', f'digest: "{D2}"')
    found = read(out, parse_edit("helm:image.digest"), repository=REPO, file="f")
    assert (found.repository, found.digest) == (REPO, D1)


@pytest.mark.parametrize("line", ["  digest:", "  digest: ~", "  digest: null   # set by hoist"])
def test_helm_null_digest_is_filled_in_place(line: str) -> None:
    text = VALUES.replace('  digest: ""        # hoist writes this', line)
    out = edit(text, "helm:image.digest")
    comment = "   # set by hoist" if "#" in line else ""
    assert out == text.replace(line, f"  digest: {D1}{comment}")


def test_helm_missing_digest_key_is_added_beside_its_siblings() -> None:
    text = VALUES.replace('  digest: ""        # hoist writes this\n', "")
    out = edit(text, "helm:image.digest")
    assert out == text.replace("  pullPolicy: IfNotPresent\n", f"  pullPolicy: IfNotPresent\n  digest: {D1}\n")


def test_helm_repository_beside_the_digest_follows_the_promoted_image() -> None:
    out = edit(VALUES.replace(REPO, "ghcr.io/acme/old"), "helm:image.digest")
    assert out == VALUES.replace('digest: ""', f'digest: "{D1}"')
    bitnami = "image:\n  registry: docker.io\n  repository: acme/dotca\n  digest: ''\n"
    out = edit(bitnami, "helm:image.digest")
    assert out == f"image:\n  registry: ghcr.io\n  repository: acme/dotca\n  digest: '{D1}'\n"


def test_helm_refuses_the_tag_key() -> None:
    with pytest.raises(ValueError, match="names the image's tag"):
        parse_edit("helm:image.tag")


def test_yaml_key_path_with_list_index_in_a_multi_document_file() -> None:
    out = edit(MANIFEST, "yaml:spec.template.spec.containers[0].image")
    assert out == MANIFEST.replace("'ghcr.io/acme/dotca:1.0'", f"'{REPO}@{D1}'")
    found = read(out, parse_edit("yaml:spec.template.spec.containers[0].image"), repository=REPO, file="f")
    assert (found.repository, found.digest) == (REPO, D1)


def test_flow_style_falls_back_to_the_round_trip_dump_and_keeps_comments() -> None:
    text = "# values\nimage: {repository: ghcr.io/acme/dotca, tag: '1.0'}  # flow\nreplicas: 2\n"
    out = edit(text, "helm:image.digest")
    data = yaml.safe_load(out)
    assert data == {"image": {"repository": REPO, "tag": "1.0", "digest": D1}, "replicas": 2}
    assert "# values" in out and "# flow" in out


@pytest.mark.parametrize(
    ("text", "how", "message"),
    [
        (VALUES, "helm:image.nope.digest", r"has no image\.nope \(under image\)"),
        (VALUES, "yaml:image.digestx", r"has no image\.digestx"),
        (VALUES, "yaml:image", "holds a mapping, not a value"),
        (MANIFEST, "yaml:spec.template.spec.containers[3].image", r"no spec\.template\.spec\.containers\[3\]"),
        ("a: [1, 2\n", "helm:image.digest", "is not valid YAML"),
        ("just text\n", "helm:image.digest", "does not hold YAML mappings"),
        ("a: 1\n---\na: 2\n", "yaml:a", "2 documents have a"),
    ],
)
def test_bad_paths_and_files_are_one_line_input_errors(text: str, how: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        edit(text, how)
    assert "\n" not in str(caught.value)


def test_key_paths() -> None:
    assert parse_path("spec.containers[0].image") == ("spec", "containers", 0, "image")
    assert parse_path('metadata.annotations["example.com/image"]') == ("metadata", "annotations", "example.com/image")
    for bad in ("", "a.", "[0].a", "a..b", "a[x]"):
        with pytest.raises(ValueError):
            parse_path(bad)
