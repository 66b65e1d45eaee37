//! The kernel generator (`hlb_gen`) writes, frame for frame, what the
//! AF_PACKET generator sends (`afpacket::frame`): the same source port,
//! the destination port counted up past 65,536 flows, the per-CPU flow-set
//! offset of the two-CPU rows, and valid checksums. This kernel refuses
//! live frames, so `hlb_gen` runs here through a plain BPF_PROG_TEST_RUN,
//! which hands back the frame it wrote (XDP_TX).

use hyperlab_bench::{afpacket, objects::BenchObject, sys};
use hyperlab_bench_common::{programs, BenchConfig, FRAME_LEN};
use hyperlab_tests::{csum, testrun, Verdict};

fn template(dport: u16) -> [u8; FRAME_LEN] {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0a], [2, 0, 0, 0, 0, 1])
        .ipv4([10, 0, 1, 10], [10, 0, 1, 21], 64)
        .udp(0, dport);
    let mut f = Vec::new();
    b.write(&mut f, &[0x68u8; FRAME_LEN - 14 - 20 - 8])
        .expect("frame");
    f.try_into().expect("64 bytes")
}

fn words(f: &[u8]) -> [u64; 8] {
    let mut w = [0u64; 8];
    for (i, c) in f.chunks(8).enumerate() {
        w[i] = u64::from_le_bytes(c.try_into().expect("8 bytes"));
    }
    w
}

#[test]
#[ignore = "needs root"]
fn hlb_gen_writes_the_af_packet_generator_s_frames_past_65536_flows_and_per_cpu() {
    hyperlab_tests::require_root();
    let obj = hyperlab_bench::objects::bench_object_path();
    let mut bench = BenchObject::load(&obj, Some(1024)).expect("bench object");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = cpus - 1;
    // Flow index = (seq & mask) + cpu * stride: with this stride, the CPU's
    // flow set starts at 3 * 65,536 + 5 (destination port + 3), or at 0 on
    // CPU 0.
    let stride = if cpu == 0 {
        0
    } else {
        ((3u32 << 16) + 5) / cpu as u32
    };
    let t = template(5353);
    bench
        .set_config(&BenchConfig {
            frame: words(&t),
            flows_mask: 7,
            sport_base: 1024,
            cpu_stride: stride,
            ..Default::default()
        })
        .expect("config");
    std::thread::spawn(move || {
        sys::pin_to_cpu(cpu).expect("pin");
        let mut seen = Vec::new();
        for _ in 0..16 {
            let before = bench
                .count(hyperlab_bench_common::COUNT_GEN)
                .expect("count");
            let (o, _) = testrun::call(
                testrun::Program::Xdp(bench.xdp(programs::GEN)),
                1,
                &[0u8; FRAME_LEN],
                1,
            )
            .expect("test run");
            assert_eq!(o.verdict, Verdict::Reflect);
            // This CPU's counter after the increment.
            let seq = before + 1;
            let idx = (seq as u32 & 7) + cpu as u32 * stride;
            let want = afpacket::frame(&t, 1024, idx);
            assert_eq!(o.out[..FRAME_LEN], want[..], "seq {seq}, flow index {idx}");
            csum::assert_valid(&o.out);
            seen.push(u16::from_be_bytes([o.out[36], o.out[37]]));
        }
        let want_dport = if cpu == 0 { 5353 } else { 5353 + 3 };
        assert!(seen.iter().all(|&d| d == want_dport), "{seen:?}");
    })
    .join()
    .expect("generator check");
}
