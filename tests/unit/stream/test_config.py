"""Service configuration: YAML + TWINWATCH_* overrides, every bad key named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinwatch.stream.config import ConfigError, ServiceConfig, load_config

EXAMPLE = Path(__file__).parents[3] / "stream" / "data" / "twinwatch.example.yaml"


def test_defaults_without_file() -> None:
    cfg = load_config(None, env={})
    assert cfg == ServiceConfig(source="<defaults>")
    assert cfg.metrics.bind == "127.0.0.1:9464"  # explicit loopback default, never all interfaces
    assert [cfg.topics.raw_topic(f) for f in ("gnmic", "probe")] == ["twinwatch.raw.gnmic", "twinwatch.raw.probe"]
    assert (cfg.topics.alerts, cfg.topics.expected, cfg.topics.dlq) == (
        "twinwatch.alerts", "twinwatch.expected", "twinwatch.dlq")


def test_example_file_is_valid_and_documents_every_section() -> None:
    cfg = load_config(EXAMPLE, env={})
    assert cfg.networks == ("abilene",) and cfg.source == str(EXAMPLE)
    text = EXAMPLE.read_text()
    for section in ("kafka:", "topics:", "networks:", "window:", "detection:", "twin:", "sinks:", "metrics:",
                    "logging:"):
        assert section in text


def test_environment_overrides_file(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("kafka: {bootstrap: 'a:1'}\nwindow: {seconds: 10}\n")
    cfg = load_config(f, env={"TWINWATCH_KAFKA__BOOTSTRAP": "b:2,c:3", "TWINWATCH_WINDOW__SECONDS": "30",
                              "TWINWATCH_NETWORKS": "abilene,nsfnet", "TWINWATCH_TOPICS__RAW__GNMIC": "tele.gnmic",
                              "TWINWATCH_LOG_LEVEL": "DEBUG", "TWINWATCH_CONFIG": "ignored",
                              "TWINWATCH_SINKS__JSONL": "/tmp/a.jsonl"})
    assert cfg.kafka.bootstrap == "b:2,c:3" and cfg.window.seconds == 30.0
    assert cfg.networks == ("abilene", "nsfnet") and cfg.topics.raw_topic("gnmic") == "tele.gnmic"
    assert cfg.sinks.jsonl == "/tmp/a.jsonl"


def test_the_clock_ahead_limit_defaults_to_300_s_and_can_be_tightened_or_lifted(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("window: {seconds: 10}\n")
    assert load_config(f, env={}).window.max_clock_ahead_s == 300.0
    assert load_config(f, env={"TWINWATCH_WINDOW__MAX_CLOCK_AHEAD_S": "30"}).window.max_clock_ahead_s == 30.0
    f.write_text("window: {max_clock_ahead_s: null}\n")
    assert load_config(f, env={}).window.max_clock_ahead_s is None


def test_the_traffic_range_option_is_off_unless_asked_for(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("detection: {alpha: 0.01}\n")
    assert load_config(f, env={}).detection.tm_range is False
    assert load_config(f, env={"TWINWATCH_DETECTION__TM_RANGE": "true"}).detection.tm_range is True
    f.write_text("detection: {tm_range: yes please}\n")
    with pytest.raises(ConfigError, match=r"detection\.tm_range"):
        load_config(f, env={})


def test_the_flow_windows_matrix_is_fitted_to_the_counters_unless_told_otherwise(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("detection: {alpha: 0.01}\n")
    assert load_config(f, env={}).detection.flow_matrix == "fitted"
    assert load_config(f, env={"TWINWATCH_DETECTION__FLOW_MATRIX": "records"}).detection.flow_matrix == "records"
    f.write_text("detection: {flow_matrix: sampled}\n")
    with pytest.raises(ConfigError, match=r"detection\.flow_matrix.*fitted, records"):
        load_config(f, env={})
    f.write_text("detection: {alpha: 0.01}\n")
    assert load_config(f, env={}).detection.matrix_classes == "best-effort"
    env = {"TWINWATCH_DETECTION__MATRIX_CLASSES": "records"}
    assert load_config(f, env=env).detection.matrix_classes == "records"
    f.write_text("detection: {matrix_classes: dscp}\n")
    with pytest.raises(ConfigError, match=r"detection\.matrix_classes.*records, best-effort"):
        load_config(f, env={})


def test_every_matrix_classes_default_is_the_one_scored() -> None:
    """The config, the replay command, the pipeline and the snapshot builder default to
    ``DEFAULT_MATRIX_CLASSES`` (the config and the command keep literals so that ``--help`` does not import the
    twin: they must not drift)."""
    import dataclasses
    import inspect

    from twinwatch.stream.commands.replay import replay, run_replay
    from twinwatch.stream.config import DetectionConfig
    from twinwatch.stream.pipeline import Pipeline
    from twinwatch.twin.snapshot import DEFAULT_MATRIX_CLASSES, MATRIX_CLASSES, SnapshotBuilder

    assert DEFAULT_MATRIX_CLASSES in MATRIX_CLASSES
    option = next(o for o in replay.params if o.name == "matrix_classes")
    assert sorted(option.type.choices) == sorted(MATRIX_CLASSES)
    got = {"config": {f.name: f.default for f in dataclasses.fields(DetectionConfig)}["matrix_classes"],
           "replay --matrix-classes": option.default,
           "run_replay": inspect.signature(run_replay).parameters["matrix_classes"].default,
           "Pipeline": inspect.signature(Pipeline).parameters["matrix_classes"].default,
           "SnapshotBuilder": {f.name: f.default for f in dataclasses.fields(SnapshotBuilder)}["matrix_classes"]}
    assert got == dict.fromkeys(got, DEFAULT_MATRIX_CLASSES)


def test_sasl_scram_with_password_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    f = tmp_path / "c.yaml"
    f.write_text(f"kafka: {{security_protocol: SASL_SSL, sasl_mechanism: SCRAM-SHA-512, username: tw, "
                 f"password_file: '{pw}'}}\n")
    cfg = load_config(f, env={})
    assert cfg.kafka.resolved_password() == "s3cret"
    assert "s3cret" not in repr(cfg.kafka)
    pw.write_text("")  # an empty file is an empty password, not an IndexError at start
    assert cfg.kafka.resolved_password() == ""


def test_alertmanager_tls_needs_https_and_a_whole_client_certificate(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("not read at validation")
    f = tmp_path / "c.yaml"
    f.write_text(f"sinks: {{alertmanager_url: 'http://am:9093', alertmanager_cafile: '{pem}'}}\n")
    with pytest.raises(ConfigError, match=r"sinks\.alertmanager_cafile: needs an https:// sinks\.alertmanager_url"):
        load_config(f, env={})
    f.write_text(f"sinks: {{alertmanager_url: 'https://am:9093', alertmanager_certfile: '{pem}'}}\n")
    with pytest.raises(ConfigError, match=r"sinks\.alertmanager_keyfile: a client certificate needs both"):
        load_config(f, env={})
    f.write_text("sinks: {alertmanager_url: 'https://am:9093', alertmanager_username: tw, alertmanager_password: s3}\n")
    sinks = load_config(f, env={}).sinks
    assert sinks.alertmanager_auth() == ("tw", "s3") and "s3" not in repr(sinks)
    assert sinks.alertmanager_ssl_context() is None  # the system's CAs: urllib's default


BAD = [
    ("kafka: {bootstrap: 'nohost'}", "kafka.bootstrap"),
    ("kafka: {security_protocol: TLS}", "kafka.security_protocol"),
    ("kafka: {security_protocol: SASL_PLAINTEXT, sasl_mechanism: MD5, username: u, password: p}",
     "kafka.sasl_mechanism"),
    ("kafka: {security_protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN, password: p}", "kafka.username"),
    ("kafka: {security_protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN, username: u}", "kafka.password"),
    ("kafka: {startup_timeout_s: -1}", "kafka.startup_timeout_s"),
    ("kafka: {startup_timeout_s: .nan}", "kafka.startup_timeout_s"),
    ("kafka: {startup_timeout_s: 1e9}", "kafka.startup_timeout_s"),
    ("sinks: {alertmanager_cafile: /nonexistent/ca.pem}", "sinks.alertmanager_cafile"),
    ("sinks: {alertmanager_url: 'https://am:9093', alertmanager_username: u}", "sinks.alertmanager_password"),
    ("sinks: {alertmanager_url: 'https://am:9093', alertmanager_password: p}", "sinks.alertmanager_username"),
    ("kafka: {ssl_cafile: /nonexistent/ca.pem}", "kafka.ssl_cafile"),
    ("kafka: {password_file: /nonexistent/pw}", "kafka.password_file"),
    ("kafka: {consumer_group: ''}", "kafka.consumer_group"),
    ("kafka: {rebalance_timeout_s: 0}", "kafka.rebalance_timeout_s"),
    ("kafka: {session_timeout_s: 2}", "kafka.session_timeout_s"),
    ("kafka: {bootstrapp: 'a:1'}", "kafka.bootstrapp"),
    ("kafak: {}", "kafak"),
    ("topics: {formats: [snmp]}", "topics.formats"),
    ("topics: {raw: {snmp: t}}", "topics.raw.snmp"),
    ("topics: {dlq: ''}", "topics.dlq"),
    ("networks: [/nonexistent/net.yaml]", "networks[0]"),
    ("window: {seconds: 0}", "window.seconds"),
    ("window: {seconds: ten}", "window.seconds"),
    ("window: {allowed_lateness_s: -1}", "window.allowed_lateness_s"),
    ("window: {max_clock_ahead_s: 0}", "window.max_clock_ahead_s"),
    ("window: {max_clock_ahead_s: .inf}", "window.max_clock_ahead_s"),
    ("window: {max_clock_ahead_s: soon}", "window.max_clock_ahead_s"),
    ("detection: {alpha: 1.5}", "detection.alpha"),
    ("detection: {method: fdr}", "detection.method"),
    ("detection: {persistence_k: 4, persistence_m: 3}", "detection.persistence_k"),
    ("detection: {resolve_after: 0}", "detection.resolve_after"),
    ("detection: {warmup_windows: -1}", "detection.warmup_windows"),
    ("detection: {delay_resolution_s: -1e-6}", "detection.delay_resolution_s"),
    ("detection: {delay_resolution_s: .nan}", "detection.delay_resolution_s"),
    ("twin: {model: resnet}", "twin.model"),
    ("twin: {checkpoint: /nonexistent.safetensors}", "twin.checkpoint"),
    ("twin: {threads: 0}", "twin.threads"),
    ("sinks: {alertmanager_url: 'am:9093'}", "sinks.alertmanager_url"),
    ("sinks: {alertmanager_retries: -1}", "sinks.alertmanager_retries"),
    ("metrics: {bind: '9464'}", "metrics.bind"),
    ("metrics: {max_links: -5}", "metrics.max_links"),
    ("metrics: {enabled: maybe}", "metrics.enabled"),
    ("logging: {format: xml}", "logging.format"),
    ("logging: {level: LOUD}", "logging.level"),
    # found by the structure-aware fuzzer (tests/fuzz/cli_inputs.py, seed 1; accepted or a traceback before)
    ("metrics: {bind: '127.0.0.1:\u00b2'}", "metrics.bind"),  # a Unicode digit: int() raised ValueError
    ("metrics: {bind: '0.0.0.0:0'}", "metrics.bind"),  # port 0 (a random port nobody can scrape)
    ("kafka: {bootstrap: 'k1:65536'}", "kafka.bootstrap"),  # ports were not range-checked
    ("topics: {alerts: 'twinwatch alerts'}", "topics.alerts"),  # k = 20: not a legal Kafka topic name
    ("topics: {raw: {gnmic: ''}}", "topics.raw.gnmic"),  # an empty raw topic
    ("topics: {formats: [gnmic, gnmic]}", "topics.formats"),  # k = 157: two consumers of one topic
    ("networks: ['']", "networks[0]"),  # k = 71: an empty network name
    ("networks: [abilene, abilene]", "networks[1]"),
    ("sinks: {alertmanager_timeout_s: .nan}", "sinks.alertmanager_timeout_s"),  # k = 91 (also named the wrong key)
    ("detection: {resolve_after: 100000000000}", "detection.resolve_after"),  # k = 162
    ("window: {allowed_lateness_s: .inf}", "window.allowed_lateness_s"),
    ("window: {seconds: .inf}", "window.seconds"),
    ("twin: {threads: 1000000}", "twin.threads"),
    ("twin: {checkpoint: ''}", "twin.checkpoint"),  # '' is the current folder: it 'existed'
    ("networks: [" + "a" * 300 + ".yaml]", "networks[0]"),  # k = 127,505: OSError (file name too long) escaped
    ("kafka: {ssl_cafile: " + "c" * 5000 + "}", "kafka.ssl_cafile"),
    ("twin: {model: qt, checkpoint: /}", "twin.checkpoint"),  # run --check leaked QueueingModel.__init__'s TypeError
    ("metrics: {max_links: 100000000000}", "metrics.max_links"),
]


@pytest.mark.parametrize(("doc", "key"), BAD, ids=[k for _, k in BAD])
def test_every_bad_key_is_named(tmp_path: Path, doc: str, key: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(doc + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(f, env={})
    msg = str(err.value)
    assert msg.startswith(key + ":"), msg
    assert str(f) in msg  # the file is named too


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^window\.seconds: .*TWINWATCH_WINDOW__SECONDS"):
        load_config(None, env={"TWINWATCH_WINDOW__SECONDS": "-3"})


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", env={})
    f = tmp_path / "bad.yaml"
    f.write_text("kafka: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f, env={})
    f.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(f, env={})


def test_run_check_validates_and_exits() -> None:
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli

    ok = CliRunner().invoke(cli, ["run", "--config", str(EXAMPLE), "--check"], env={"TWINWATCH_TWIN__MODEL": "qt"})
    assert ok.exit_code == 0, ok.output
    assert "is valid: 1 network(s), twin qt" in ok.output
    bad = CliRunner().invoke(cli, ["run", "--config", str(EXAMPLE), "--check"],
                             env={"TWINWATCH_DETECTION__ALPHA": "2"})
    assert bad.exit_code == 1
    assert "detection.alpha: 2.0 must be in (0, 1) (from environment TWINWATCH_DETECTION__ALPHA)" in bad.output
    assert "Traceback" not in bad.output


def test_twin_keys_are_named_as_written_in_the_file(tmp_path: Path) -> None:
    """The twin section's errors named ``twinwatch.twin.model`` (a package rename leaked into the key), so the
    environment variable behind a bad value was not named either."""
    with pytest.raises(ConfigError, match=r"^twin\.model: 'resnet' .*\(from environment TWINWATCH_TWIN__MODEL\)$"):
        load_config(None, env={"TWINWATCH_TWIN__MODEL": "resnet"})


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("networks: " + "[" * 10_000 + "]" * 10_000 + "\n", "nest"),  # k = 26: a RecursionError escaped
        ("defs:\n  x0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
         + "".join(f"  x{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 9))
         + "networks: *l8\n", "after expanding YAML aliases"),  # 10**9 values: the message repr flooded
        ("window: {seconds: 10}\nwindow: {seconds: 20}\n", "line 2: not valid YAML (found duplicate key 'window'"),
    ],
    ids=["deep nesting", "alias bomb", "duplicate key"],
)
def test_hostile_yaml_is_refused_in_one_short_line(tmp_path: Path, text: str, rule: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f, env={})
    msg = str(err.value)
    assert rule in msg and str(f) in msg and "\n" not in msg and len(msg) < 300, msg


def test_a_long_bad_value_is_cut_in_the_message(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("networks: [" + ", ".join([f"[n{i}]" for i in range(20_000)]) + "]\n")
    with pytest.raises(ConfigError, match=r"^networks: expected a list of strings, got \[\['n0'\], .*\.\.\.") as err:
        load_config(f, env={})
    assert len(str(err.value)) < 300


def test_run_check_refuses_a_folder_that_is_not_a_checkpoint_in_one_line(tmp_path: Path) -> None:
    """``twin.checkpoint: .`` exists, so the file validates, but it holds no model: ``run --check`` let the
    twin's ModelLoadError escape as a traceback (the fuzzer's seed 1, k = 52,000)."""
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli

    f = tmp_path / "c.yaml"
    f.write_text(f"networks: [abilene]\ntwin: {{model: gnn, checkpoint: '{tmp_path}'}}\n")
    res = CliRunner().invoke(cli, ["run", "--config", str(f), "--check"])
    assert res.exit_code == 1 and (res.exception is None or isinstance(res.exception, SystemExit)), res.output
    assert "Traceback" not in res.output and "model.safetensors is missing" in res.output
    assert len(res.output.strip().splitlines()) == 1
