"""Cross-check twinwatch's simulator against ns-3 on the same scenarios.

ns-3 (PyPI ``ns3``, the project's ``ns3`` extra) is an independent packet
simulator. :func:`run_ns3` rebuilds a twinwatch :class:`~twin.scenario.Scenario`
in ns-3 and measures per-flow mean delay, delay variance and loss;
:func:`compare` runs both simulators on the same scenario and lines the
numbers up, together with each simulator's speed (packet-hops per wall-clock
second, same scenario, same simulated time, same machine, same invocation).

How the scenario maps to ns-3 (pitfalls of ns-3's Python bindings handled):

- every pair of opposite links becomes one ``PointToPoint`` duplex link
  (``DataRate`` = capacity, ``Delay`` = propagation delay, ``Mtu`` 9000 so
  nothing fragments); each device queue is a ``DropTailQueue`` with ``MaxSize``
  = its sending node's buffer in packets (buffers in bits are refused), and the default traffic-control queue disc
  is removed (``TrafficControlHelper::Uninstall``) so drops happen there,
  drop-tail, and nowhere else. ns-3's device queue excludes the packet
  being transmitted; when twinwatch counts it against the buffer
  (``SimConfig.count_in_service``, the engine's default) the ns-3 queue gets
  ``K - 1`` places, so both model the same ``K``-packet system.
- routing is static: each path's links become host routes (so paths must be
  destination-based, which unique shortest paths are);
- each flow is a UDP socket fed by a small C++ Poisson sender (exponential
  gaps, compiled at run time with cppyy) whose packets carry a
  ``SeqTsHeader`` time stamp; the receiver computes per-packet delay, so the
  delay variance is the true one (FlowMonitor's "jitter" is the mean
  difference of consecutive delays, not the variance). A twinwatch packet of
  ``s`` bits is an ns-3 packet of ``s/8 - 30`` payload bytes (UDP 8 + IPv4 20
  + PPP 2 header bytes on the wire);
- only packets *sent* in ``[warmup, warmup + duration)`` count; the
  simulation runs on for ``drain`` so they arrive;
- independent replications use ``RngSeedManager::SetRun(r)``.

ns-3 runs in a child process: its bindings take 20–45 s to import and load
their own LLVM, which is best kept out of a process that uses numba. The child
runs :data:`_WORKER_SRC` (``python -c``), which imports only ``json``, ``sys``,
``ns`` and ``cppyy`` — not twinwatch — so it may be another interpreter, e.g. a
separate virtualenv that holds the ``ns3`` wheel and a locally built cppyy:
pass ``python=`` to :func:`run_ns3` / :func:`compare`, ``--python`` on the
command line, or set ``TWINWATCH_NS3_PYTHON`` (default: this interpreter).

Run the whole check: ``python -m twinwatch.twin.sim.ns3_check --runs 5 --duration 60
--json out.json``.

Examples
--------
>>> sc = check_scenarios()["line4"]
>>> sc.n_nodes, sc.n_flows, sorted(set(sc.flow_time_dist.tolist()))
(4, 4, [0])
>>> ns3_available()[0] in (True, False)
True
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from twinwatch.twin.scenario import Flow, Policy, Scenario, TimeDist

__all__ = ["NS3_PYTHON_ENV", "Ns3Result", "check_scenarios", "compare", "ns3_available", "ns3_python", "run_ns3",
           "to_markdown"]

NS3_PYTHON_ENV = "TWINWATCH_NS3_PYTHON"
"""Environment variable naming the Python interpreter that runs the ns-3 child (default: ``sys.executable``)."""

HEADER_BYTES = 30
"""UDP (8) + IPv4 (20) + PPP (2) bytes an ns-3 point-to-point packet carries besides its payload."""


def ns3_python(python: str | None = None) -> str:
    """The interpreter for the ns-3 child: ``python``, else ``$TWINWATCH_NS3_PYTHON``, else this one."""
    return python or os.environ.get(NS3_PYTHON_ENV) or sys.executable


def ns3_available(python: str | None = None) -> tuple[bool, str]:
    """Whether ns-3's Python bindings are importable by :func:`ns3_python`'s interpreter, and why not.

    For another interpreter this asks it (``find_spec``, no import: well under a second).
    """
    exe = ns3_python(python)
    hint = "ns-3 Python bindings not installed (pip install 'twinwatch[ns3]', i.e. ns3==3.44.*)"
    if exe == sys.executable:
        if importlib.util.find_spec("ns") is None or importlib.util.find_spec("cppyy") is None:
            return False, hint
        return True, "ok"
    probe = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('ns') and u.find_spec('cppyy') else 3)"
    try:
        rc = subprocess.run([exe, "-c", probe], capture_output=True, timeout=60).returncode
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"ns-3 interpreter {exe} (from python= or ${NS3_PYTHON_ENV}) cannot be run: {exc}"
    if rc != 0:
        return False, f"{hint}; interpreter {exe} (from python= or ${NS3_PYTHON_ENV}) lacks them"
    return True, "ok"


@dataclass(eq=False)
class Ns3Result:
    """Per-flow results of ns-3 runs (times in seconds).

    Shapes: ``(F,)`` per flow; ``R`` replications.
    """

    flow_delay_s: np.ndarray  # mean over replications of each run's mean delay
    flow_delay_ci: np.ndarray  # 95 % CI half-width across replications (NaN for one run)
    flow_jitter_s2: np.ndarray  # delay variance (pooled)
    flow_loss_ratio: np.ndarray
    flow_tx: np.ndarray  # packets sent in the window, all replications
    packet_hops: int  # transmissions completed on all links, all replications
    wall_time_s: float  # time inside Simulator::Run, all replications
    runs: int

    @property
    def hops_per_second(self) -> float:
        return self.packet_hops / self.wall_time_s if self.wall_time_s > 0 else float("nan")


# ------------------------------------------------------------------ scenarios
def check_scenarios() -> dict[str, Scenario]:
    """The small scenarios the check uses (FIFO, Poisson, fixed 1000-byte packets).

    ``line4``: 0-1-2-3 line, 10 Mbit/s, 1 ms links, four flows loading the
    middle link to 0.8, large buffers (delay check). ``star4``: hub 0 with
    leaves 1-3, 10 Mbit/s, 0.5 ms, the hub→2 link loaded to 0.95 with 10-packet
    buffers (loss check).
    """
    size = 8000.0

    def duplex(pairs: list[tuple[int, int]], cap: float, prop: float) -> list[tuple[int, int, float, float]]:
        return [(a, b, cap, prop) for a, b in pairs] + [(b, a, cap, prop) for a, b in pairs]

    cap = 10e6
    line_links = duplex([(0, 1), (1, 2), (2, 3)], cap, 1e-3)
    line_routes = {(0, 3): [0, 1, 2, 3], (1, 3): [1, 2, 3], (0, 2): [0, 1, 2], (3, 0): [3, 2, 1, 0]}
    line_flows = [
        Flow(0, 3, 0.3 * cap, size),
        Flow(1, 3, 0.2 * cap, size),
        Flow(0, 2, 0.3 * cap, size),
        Flow(3, 0, 0.6 * cap, size),
    ]
    star_links = duplex([(0, 1), (0, 2), (0, 3)], cap, 0.5e-3)
    star_routes = {(1, 2): [1, 0, 2], (3, 2): [3, 0, 2], (1, 3): [1, 0, 3], (2, 1): [2, 0, 1]}
    star_flows = [Flow(1, 2, 0.5 * cap, size), Flow(3, 2, 0.45 * cap, size), Flow(1, 3, 0.3 * cap, size),
                  Flow(2, 1, 0.4 * cap, size)]
    return {
        "line4": Scenario.build(4, line_links, line_routes, line_flows, queue_pkts=1000.0, name="line4"),
        "star4": Scenario.build(4, star_links, star_routes, star_flows, queue_pkts=10.0, name="star4"),
    }


def nsfnet_scenario(load: float = 0.7, seed: int = 0) -> Scenario:
    """The NSFNet-like speed scenario: shipped ``nsfnet`` topology, all pairs, Poisson, 1000 B, FIFO."""
    from twinwatch.twin.sim.scenarios import ScenarioParams, draw_scenario
    from twinwatch.twin.topology import load_topology

    params = ScenarioParams(load=(load, load), time_dists=("poisson",), pkt_sizes="fixed", buffer_pkts=(64.0,))
    return draw_scenario(load_topology("nsfnet"), params, np.random.default_rng(seed), name="nsfnet")


def _ns3_job(sc: Scenario, count_in_service: bool = True) -> dict[str, object]:
    """The scenario as the plain lists the ns-3 worker needs; ValueError if ns-3 cannot model it.

    ns-3's device queue holds only *waiting* packets. When twinwatch counts the
    packet in service against a bound of ``K`` (``SimConfig.count_in_service``)
    the same system is an ns-3 queue of ``K - 1``.
    """
    if (sc.node_policy != Policy.FIFO).any():
        raise ValueError(f"{sc.name}: the ns-3 check models FIFO ports only")
    if (sc.flow_time_dist != TimeDist.POISSON).any():
        raise ValueError(f"{sc.name}: the ns-3 check models Poisson flows only")
    if ((sc.flow_size_probs > 0).sum(axis=1) != 1).any():
        raise ValueError(f"{sc.name}: the ns-3 check needs one fixed packet size per flow")
    sizes = sc.flow_sizes_bits[np.arange(sc.n_flows), np.argmax(sc.flow_size_probs, axis=1)]
    payload = np.round(sizes / 8.0).astype(np.int64) - HEADER_BYTES
    if (payload < 12).any() or not np.allclose(sizes % 8, 0):
        raise ValueError(f"{sc.name}: packet sizes must be whole bytes >= {HEADER_BYTES + 12}")
    byte_limited = np.flatnonzero(np.isfinite(sc.node_buffer_bits))
    if byte_limited.size:
        raise ValueError(f"{sc.name}: the ns-3 check models buffers in packets only; node {int(byte_limited[0])} "
                         f"has a byte limit ({sc.node_buffer_bits[byte_limited[0]]:.0f} bits)")
    qpk = sc.node_queue_pkts[sc.link_src, 0]
    qpk = np.where(np.isfinite(qpk), qpk, 1e6).astype(np.int64)
    if count_in_service:
        qpk = np.maximum(qpk - 1, 1)
    return {
        "n_nodes": sc.n_nodes,
        "lsrc": sc.link_src.tolist(), "ldst": sc.link_dst.tolist(),
        "cap": sc.link_capacity_bps.tolist(), "prop": sc.link_prop_delay_s.tolist(), "qpk": qpk.tolist(),
        "pptr": sc.path_ptr.tolist(), "plinks": sc.path_links.tolist(),
        "fpath": sc.flow_path.tolist(), "fmean": (1.0 / sc.flow_pkt_rate).tolist(), "fpayload": payload.tolist(),
    }


# ------------------------------------------------------------------ ns-3 side
def run_ns3(
    scenarios: dict[str, Scenario], *, warmup_s: float, duration_s: float, drain_s: float = 1.0, runs: int = 3,
    seed: int = 1, timeout_s: float = 1800.0, count_in_service: bool = True, python: str | None = None,
) -> dict[str, Ns3Result]:
    """Simulate each scenario ``runs`` times in ns-3 (one child process for all).

    ``python``: the interpreter that has ns-3 (see :func:`ns3_python`). Raises
    ``RuntimeError`` when ns-3 is not installed or the child fails.
    """
    ok, why = ns3_available(python)
    if not ok:
        raise RuntimeError(why)
    jobs = {name: _ns3_job(sc, count_in_service) for name, sc in scenarios.items()}
    req = {"jobs": jobs, "warmup": warmup_s, "duration": duration_s, "drain": drain_s, "runs": runs, "seed": seed,
           "cpp": _CPP}
    proc = subprocess.run(
        [ns3_python(python), "-c", _WORKER_SRC], input=json.dumps(req), capture_output=True,
        text=True, timeout=timeout_s, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(ln for ln in proc.stderr.splitlines() if "materialize symbols" not in ln)[-2000:]
        raise RuntimeError(f"ns-3 worker failed (exit {proc.returncode}):\n{tail}")
    raw = json.loads(lines[-1])
    return {name: _ns3_result(np.array(out), runs, len(scenarios[name].flow_path)) for name, out in raw.items()}


def _ns3_result(out: np.ndarray, runs: int, f: int) -> Ns3Result:
    """Aggregate the worker's ``(R, 4F + 2)`` rows: per flow [tx, rx, sum, sum2], then [hops, wall]."""
    per = out[:, : 4 * f].reshape(runs, f, 4)
    tx, rx, s, s2 = per[..., 0], per[..., 1], per[..., 2], per[..., 3]
    with np.errstate(all="ignore"):
        run_mean = s / rx
        mean = run_mean.mean(axis=0)
        ci = (
            np.full(f, np.nan) if runs < 2
            else _tcrit(runs - 1) * run_mean.std(axis=0, ddof=1) / np.sqrt(runs)
        )
        pooled = s.sum(axis=0) / rx.sum(axis=0)
        jitter = s2.sum(axis=0) / rx.sum(axis=0) - pooled**2
        loss = 1.0 - rx.sum(axis=0) / tx.sum(axis=0)
    return Ns3Result(
        flow_delay_s=mean, flow_delay_ci=ci, flow_jitter_s2=jitter, flow_loss_ratio=loss, flow_tx=tx.sum(axis=0),
        packet_hops=int(out[:, 4 * f].sum()), wall_time_s=float(out[:, 4 * f + 1].sum()), runs=runs,
    )


def _tcrit(dof: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, dof))


_CPP = r"""
#include "ns3/core-module.h"
#include "ns3/network-module.h"
#include "ns3/internet-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"
#include "ns3/applications-module.h"
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
namespace twinns3 {
using namespace ns3;
static uint64_t g_hops = 0;
static void CountTx(Ptr<const Packet>) { ++g_hops; }
struct FlowStat { double tx = 0, rx = 0, sum = 0, sum2 = 0; };
static std::vector<FlowStat> g_stats;
static double g_t0 = 0, g_t1 = 0;

class PoissonSender : public Application {
 public:
  void Setup(Address peer, uint32_t payload, double mean, uint32_t flow, double stop) {
    m_peer = peer; m_payload = payload; m_mean = mean; m_flow = flow; m_stop = stop;
  }
 private:
  void StartApplication() override {
    m_socket = Socket::CreateSocket(GetNode(), UdpSocketFactory::GetTypeId());
    m_socket->Bind();
    m_socket->Connect(m_peer);
    m_rv = CreateObject<ExponentialRandomVariable>();
    m_rv->SetAttribute("Mean", DoubleValue(m_mean));
    Next();
  }
  void StopApplication() override { m_ev.Cancel(); }
  void Next() { m_ev = Simulator::Schedule(Seconds(m_rv->GetValue()), &PoissonSender::Send, this); }
  void Send() {
    double now = Simulator::Now().GetSeconds();
    if (now >= m_stop) return;
    SeqTsHeader h; h.SetSeq(m_seq++);
    Ptr<Packet> p = Create<Packet>(m_payload - h.GetSerializedSize());
    p->AddHeader(h);
    if (now >= g_t0 && now < g_t1) g_stats[m_flow].tx += 1;
    m_socket->Send(p);
    Next();
  }
  Ptr<Socket> m_socket; Address m_peer; uint32_t m_payload = 0; double m_mean = 1; uint32_t m_flow = 0;
  double m_stop = 0; uint32_t m_seq = 0; EventId m_ev; Ptr<ExponentialRandomVariable> m_rv;
};

static void OnRecv(uint32_t flow, Ptr<Socket> s) {
  Ptr<Packet> p; Address from;
  while ((p = s->RecvFrom(from))) {
    SeqTsHeader h; p->RemoveHeader(h);
    double ts = h.GetTs().GetSeconds();
    if (ts >= g_t0 && ts < g_t1) {
      double d = Simulator::Now().GetSeconds() - ts;
      FlowStat& f = g_stats[flow]; f.rx += 1; f.sum += d; f.sum2 += d * d;
    }
  }
}

std::vector<double> run(int n_nodes,
    const std::vector<int>& lsrc, const std::vector<int>& ldst, const std::vector<double>& cap,
    const std::vector<double>& prop, const std::vector<int>& qpk,
    const std::vector<int>& pptr, const std::vector<int>& plinks,
    const std::vector<int>& fpath, const std::vector<double>& fmean, const std::vector<int>& fpayload,
    double warm, double stop, double drain, uint32_t seed, uint32_t runno) {
  RngSeedManager::SetSeed(seed); RngSeedManager::SetRun(runno);
  g_hops = 0; g_t0 = warm; g_t1 = stop; g_stats.assign(fpath.size(), FlowStat());
  NodeContainer nodes; nodes.Create(n_nodes);
  InternetStackHelper inet; inet.Install(nodes);
  size_t E = lsrc.size();
  std::vector<int> ifc_of(E, -1);
  std::vector<Ipv4Address> node_addr(n_nodes);
  std::vector<bool> has_addr(n_nodes, false);
  Ipv4AddressHelper addr; addr.SetBase("10.0.0.0", "255.255.255.252");
  TrafficControlHelper tch;
  for (size_t e = 0; e < E; ++e) {
    int a = lsrc[e], b = ldst[e];
    if (a > b) continue;
    int r = -1;
    for (size_t k = 0; k < E; ++k) if (lsrc[k] == b && ldst[k] == a) r = (int)k;
    if (r < 0) throw std::runtime_error("link " + std::to_string(a) + "->" + std::to_string(b) +
                                        " has no reverse; ns-3 point-to-point links are duplex");
    if (cap[e] != cap[r] || prop[e] != prop[r])
      throw std::runtime_error("link " + std::to_string(a) + "->" + std::to_string(b) +
                               ": a link and its reverse must have equal capacity and delay");
    PointToPointHelper p2p;
    p2p.SetDeviceAttribute("DataRate", DataRateValue(DataRate((uint64_t)cap[e])));
    p2p.SetDeviceAttribute("Mtu", UintegerValue(9000));
    p2p.SetChannelAttribute("Delay", TimeValue(Seconds(prop[e])));
    p2p.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize",
                 QueueSizeValue(QueueSize(QueueSizeUnit::PACKETS, qpk[e])));
    NetDeviceContainer d = p2p.Install(nodes.Get(a), nodes.Get(b));
    // each direction's buffer is its sending node's (they may differ)
    DynamicCast<PointToPointNetDevice>(d.Get(1))->GetQueue()->SetMaxSize(
        QueueSize(QueueSizeUnit::PACKETS, qpk[r]));
    Ipv4InterfaceContainer ic = addr.Assign(d);
    addr.NewNetwork();
    tch.Uninstall(d);
    ifc_of[e] = nodes.Get(a)->GetObject<Ipv4>()->GetInterfaceForDevice(d.Get(0));
    ifc_of[r] = nodes.Get(b)->GetObject<Ipv4>()->GetInterfaceForDevice(d.Get(1));
    if (!has_addr[a]) { node_addr[a] = ic.GetAddress(0); has_addr[a] = true; }
    if (!has_addr[b]) { node_addr[b] = ic.GetAddress(1); has_addr[b] = true; }
  }
  Ipv4StaticRoutingHelper srh;
  std::map<std::pair<int, int>, int> route;
  size_t P = pptr.size() - 1;
  for (size_t p = 0; p < P; ++p) {
    int dst = ldst[plinks[pptr[p + 1] - 1]];
    for (int h = pptr[p]; h < pptr[p + 1]; ++h) {
      int e = plinks[h], at = lsrc[e];
      auto key = std::make_pair(at, dst);
      auto it = route.find(key);
      if (it != route.end() && it->second != ifc_of[e])
        throw std::runtime_error("paths are not destination-based: node " + std::to_string(at) +
                                 " forwards traffic for " + std::to_string(dst) + " on two links");
      if (it == route.end()) {
        route[key] = ifc_of[e];
        srh.GetStaticRouting(nodes.Get(at)->GetObject<Ipv4>())->AddHostRouteTo(node_addr[dst], ifc_of[e]);
      }
    }
  }
  for (size_t f = 0; f < fpath.size(); ++f) {
    int p = fpath[f];
    int src = lsrc[plinks[pptr[p]]], dst = ldst[plinks[pptr[p + 1] - 1]];
    uint16_t port = 1000 + f;
    Ptr<Socket> sink = Socket::CreateSocket(nodes.Get(dst), UdpSocketFactory::GetTypeId());
    sink->Bind(InetSocketAddress(Ipv4Address::GetAny(), port));
    sink->SetRecvCallback(MakeBoundCallback(&OnRecv, (uint32_t)f));
    Ptr<PoissonSender> app = CreateObject<PoissonSender>();
    app->Setup(InetSocketAddress(node_addr[dst], port), fpayload[f], fmean[f], f, stop);
    nodes.Get(src)->AddApplication(app);
    app->SetStartTime(Seconds(0.0));
  }
  Config::ConnectWithoutContext("/NodeList/*/DeviceList/*/$ns3::PointToPointNetDevice/PhyTxEnd",
                                MakeCallback(&CountTx));
  Simulator::Stop(Seconds(stop + drain));
  auto w0 = std::chrono::steady_clock::now();
  Simulator::Run();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  Simulator::Destroy();
  std::vector<double> out;
  for (auto& s : g_stats) { out.push_back(s.tx); out.push_back(s.rx); out.push_back(s.sum); out.push_back(s.sum2); }
  out.push_back((double)g_hops); out.push_back(wall);
  return out;
}
}  // namespace twinns3
"""


_WORKER_SRC = r"""
import json, sys
req = json.loads(sys.stdin.read())
from ns import ns  # noqa: F401  -- first: it loads the ns-3 libraries and headers into cppyy
import cppyy
cppyy.cppdef(req["cpp"])
run = cppyy.gbl.twinns3.run
warm, dur, drain = float(req["warmup"]), float(req["duration"]), float(req["drain"])
out = {}
for name, j in req["jobs"].items():
    rows = []
    for r in range(int(req["runs"])):
        res = run(
            int(j["n_nodes"]), j["lsrc"], j["ldst"], j["cap"], j["prop"], j["qpk"], j["pptr"], j["plinks"],
            j["fpath"], j["fmean"], j["fpayload"], warm, warm + dur, drain, int(req["seed"]), r + 1,
        )
        rows.append([float(x) for x in res])
    out[name] = rows
print(json.dumps(out), flush=True)
"""
"""The ns-3 child (``python -c``): reads the request (JSON, with the C++ source under ``"cpp"``) on stdin and
prints one JSON line of raw results. Self-contained: it imports only ``json``, ``sys``, ``ns`` and ``cppyy``."""


# --------------------------------------------------------------- comparison
def run_twinwatch(
    sc: Scenario, *, warmup_s: float, duration_s: float, seed: int = 1, count_in_service: bool = True
) -> dict[str, object]:
    """twinwatch's engine on ``sc`` for exactly ``warmup_s + duration_s`` simulated seconds."""
    from twinwatch.twin.sim.engine import SimConfig, simulate

    lam = float(sc.flow_pkt_rate.sum())
    total = warmup_s + duration_s
    cfg = SimConfig(
        seed=seed, target_rse=1e-12, min_packets=max(int(lam * total), 1), max_packets=1 << 62,
        max_time=total, warmup_fraction=warmup_s / total, count_in_service=count_in_service,
    )
    simulate(sc, SimConfig(seed=seed, min_packets=1000, max_packets=2000))  # compile / warm the kernel
    res = simulate(sc, cfg)
    with np.errstate(all="ignore"):
        rel_ci = res.path_delay_ci / res.labels.path_delay_s
    return {
        "flow_delay_s": res.flow_delay_s,
        "flow_delay_ci": (rel_ci[sc.flow_path] * res.flow_delay_s),
        "flow_jitter_s2": res.labels.path_jitter_s2[sc.flow_path],
        "flow_loss_ratio": res.labels.path_loss_ratio[sc.flow_path],
        "packet_hops": res.packet_hops,
        "wall_time_s": res.wall_time_s,
        "sim_time": res.sim_time,
    }


def compare(
    scenarios: dict[str, Scenario], *, warmup_s: float = 2.0, duration_s: float = 30.0, runs: int = 3, seed: int = 1,
    count_in_service: bool | None = None, python: str | None = None,
) -> dict[str, dict[str, object]]:
    """Both simulators on each scenario; per-flow rows and speeds (JSON-ready).

    ``count_in_service`` (default: the engine's default) says whether a buffer of
    ``K`` packets includes the one being transmitted; both simulators get the
    same system either way. ``python``: the interpreter with ns-3 (:func:`ns3_python`).
    """
    from twinwatch.twin.sim.engine import SimConfig

    cis = SimConfig().count_in_service if count_in_service is None else count_in_service
    t0 = time.perf_counter()
    ns3 = run_ns3(scenarios, warmup_s=warmup_s, duration_s=duration_s, runs=runs, seed=seed, count_in_service=cis,
                  python=python)
    ns3_total = time.perf_counter() - t0
    out: dict[str, dict[str, object]] = {}
    for name, sc in scenarios.items():
        n = ns3[name]
        hops, wall = 0, 0.0
        tws = []
        for r in range(runs):
            tw = run_twinwatch(sc, warmup_s=warmup_s, duration_s=duration_s, seed=seed + r, count_in_service=cis)
            tws.append(tw)
            hops += int(tw["packet_hops"])  # type: ignore[call-overload]
            wall += float(tw["wall_time_s"])  # type: ignore[arg-type]
        tw_delay = np.mean([t["flow_delay_s"] for t in tws], axis=0)
        tw_loss = np.mean([t["flow_loss_ratio"] for t in tws], axis=0)
        tw_jit = np.mean([t["flow_jitter_s2"] for t in tws], axis=0)
        tw_ci = (
            _tcrit(runs - 1) * np.std([t["flow_delay_s"] for t in tws], axis=0, ddof=1) / np.sqrt(runs)
            if runs > 1 else np.asarray(tws[0]["flow_delay_ci"])
        )
        with np.errstate(all="ignore"):
            rel = tw_delay / n.flow_delay_s - 1.0
        flows = [
            {
                "flow": int(i), "src": int(sc.path_src[sc.flow_path[i]]), "dst": int(sc.path_dst[sc.flow_path[i]]),
                "hops": int(sc.path_len[sc.flow_path[i]]),
                "ns3_delay_s": float(n.flow_delay_s[i]), "ns3_delay_ci": float(n.flow_delay_ci[i]),
                "tw_delay_s": float(tw_delay[i]), "tw_delay_ci": float(tw_ci[i]), "delay_rel_diff": float(rel[i]),
                "ns3_jitter_s2": float(n.flow_jitter_s2[i]), "tw_jitter_s2": float(tw_jit[i]),
                "ns3_loss": float(n.flow_loss_ratio[i]), "tw_loss": float(tw_loss[i]),
            }
            for i in range(sc.n_flows)
        ]
        out[name] = {
            "flows": flows,
            "delay_rel_diff_median_abs": float(np.nanmedian(np.abs(rel))),
            "delay_rel_diff_max_abs": float(np.nanmax(np.abs(rel))),
            "ns3_hops_per_s": n.hops_per_second, "tw_hops_per_s": hops / wall if wall > 0 else float("nan"),
            "ns3_packet_hops": n.packet_hops, "tw_packet_hops": hops,
            "ns3_wall_s": n.wall_time_s, "tw_wall_s": wall,
            "runs": runs, "warmup_s": warmup_s, "duration_s": duration_s, "count_in_service": cis,
        }
    out["_meta"] = {"ns3_process_wall_s": ns3_total, "cpu_count": os.cpu_count()}
    return out


def to_markdown(res: dict[str, dict[str, object]]) -> str:
    """Tables of a :func:`compare` result."""
    lines = []
    for name, r in res.items():
        if name.startswith("_"):
            continue
        lines += [
            f"**{name}** ({r['runs']} runs × {r['duration_s']} s after {r['warmup_s']} s warm-up): "
            f"median |Δdelay| {100 * float(r['delay_rel_diff_median_abs']):.2f} %, "  # type: ignore[arg-type]
            f"max {100 * float(r['delay_rel_diff_max_abs']):.2f} %; "  # type: ignore[arg-type]
            f"speed ns-3 {float(r['ns3_hops_per_s']) / 1e3:.0f} k packet-hops/s, "  # type: ignore[arg-type]
            f"twinwatch {float(r['tw_hops_per_s']) / 1e6:.2f} M packet-hops/s "  # type: ignore[arg-type]
            f"(×{float(r['tw_hops_per_s']) / float(r['ns3_hops_per_s']):.0f})",  # type: ignore[arg-type]
            "",
        ]
        flows = r["flows"]
        assert isinstance(flows, list)
        if len(flows) > 12:
            continue
        lines += [
            "| flow | hops | ns-3 delay (ms) | twinwatch delay (ms) | Δ | ns-3 loss | twinwatch loss | "
            "ns-3 var (ms²) | twinwatch var (ms²) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for f in flows:
            lines.append(
                f"| {f['src']}→{f['dst']} | {f['hops']} | {1e3 * f['ns3_delay_s']:.3f} ± {1e3 * f['ns3_delay_ci']:.3f} "
                f"| {1e3 * f['tw_delay_s']:.3f} ± {1e3 * f['tw_delay_ci']:.3f} | {100 * f['delay_rel_diff']:+.2f} % "
                f"| {f['ns3_loss']:.4f} | {f['tw_loss']:.4f} | {1e6 * f['ns3_jitter_s2']:.3f} "
                f"| {1e6 * f['tw_jitter_s2']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m twinwatch.twin.sim.ns3_check``: run the cross-check and print tables."""
    ap = argparse.ArgumentParser(prog="python -m twinwatch.twin.sim.ns3_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="independent replications (ns-3 SetRun, twinwatch seeds)")
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up, simulated seconds")
    ap.add_argument("--duration", type=float, default=30.0, help="measured window, simulated seconds")
    ap.add_argument("--nsfnet-duration", type=float, default=10.0, help="measured window of the NSFNet scenario")
    ap.add_argument("--no-nsfnet", action="store_true", help="skip the NSFNet-like speed scenario")
    ap.add_argument("--count-in-service", choices=("engine", "yes", "no"), default="engine",
                    help="does a K-packet buffer include the packet being sent (default: the engine's default)")
    ap.add_argument("--json", help="write the full result here")
    ap.add_argument("--python", help=f"interpreter with ns-3 for the child (default: ${NS3_PYTHON_ENV}, else this)")
    args = ap.parse_args(argv)
    ok, why = ns3_available(args.python)
    if not ok:
        print(f"ns-3 check skipped: {why}", file=sys.stderr)
        return 2
    cis = {"engine": None, "yes": True, "no": False}[args.count_in_service]
    res = compare(check_scenarios(), warmup_s=args.warmup, duration_s=args.duration, runs=args.runs,
                  count_in_service=cis, python=args.python)
    if not args.no_nsfnet:
        res_nsf = compare({"nsfnet": nsfnet_scenario()}, warmup_s=args.warmup, duration_s=args.nsfnet_duration,
                          runs=args.runs, count_in_service=cis, python=args.python)
        res["nsfnet"] = res_nsf["nsfnet"]
        res["_meta_nsfnet"] = res_nsf["_meta"]
    print(to_markdown(res))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
