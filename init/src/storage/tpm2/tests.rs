//! The commands against byte strings written out from the TCG TPM 2.0 Library, Part 3 (each
//! command's and response's table) and Part 2 (the structures), and hostile responses: every
//! length and count is checked, nothing panics.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn get_capability_of_the_pcr_banks() {
    // Part 3 §30.2, Table 208: tag, commandSize, TPM_CC_GetCapability, capability, property,
    // propertyCount.
    assert_eq!(get_capability(CAP_PCRS, 0, 1), hex("8001 00000016 0000017a  00000005 00000000 00000001"));
    // Table 209: tag, responseSize, responseCode, moreData, TPMS_CAPABILITY_DATA (capability,
    // TPML_PCR_SELECTION: count, then hash, sizeofSelect, pcrSelect each).
    let resp = hex("8001 0000001f 00000000  00  00000005  00000002  0004 03 ffffff  000b 03 ffffff");
    let (more, cap) = parse_get_capability(&resp).unwrap();
    assert!(!more);
    assert_eq!(
        cap,
        Capability::Pcrs(vec![
            PcrSelection { alg: Alg::Sha1.id(), pcrs: 0xff_ffff },
            PcrSelection { alg: Alg::Sha256.id(), pcrs: 0xff_ffff }
        ])
    );
    // A bank with no PCRs allocated (sizeofSelect 3, all clear), and moreData set.
    let resp = hex("8001 00000019 00000000  01  00000005  00000001  000c 03 000000");
    assert_eq!(
        parse_get_capability(&resp).unwrap(),
        (true, Capability::Pcrs(vec![PcrSelection { alg: Alg::Sha384.id(), pcrs: 0 }]))
    );
}

#[test]
fn get_capability_of_properties_and_handles() {
    // TPM_PT_MANUFACTURER (0x105) and TPM_PT_PCR_COUNT (0x112): TPML_TAGGED_TPM_PROPERTY.
    assert_eq!(get_capability(CAP_TPM_PROPERTIES, 0x105, 2), hex("8001 00000016 0000017a 00000006 00000105 00000002"));
    let resp = hex("8001 00000023 00000000 00 00000006 00000002  00000105 49424d00  00000112 00000018");
    assert_eq!(
        parse_get_capability(&resp).unwrap(),
        (false, Capability::Properties(vec![(0x105, 0x4942_4d00), (0x112, 24)]))
    );
    // Persistent handles from 0x81000000: the SRK systemd makes is 0x81000001.
    assert_eq!(get_capability(CAP_HANDLES, 0x8100_0000, 8), hex("8001 00000016 0000017a 00000001 81000000 00000008"));
    let resp = hex("8001 00000017 00000000 00 00000001 00000001 81000001");
    assert_eq!(parse_get_capability(&resp).unwrap(), (false, Capability::Handles(vec![0x8100_0001])));
}

#[test]
fn pcr_read_of_pcr_7() {
    let sel = [PcrSelection { alg: Alg::Sha256.id(), pcrs: 1 << 7 }];
    // Part 3 §22.4, Table 110: tag, size, TPM_CC_PCR_Read, TPML_PCR_SELECTION.
    assert_eq!(pcr_read(&sel).unwrap(), hex("8001 00000014 0000017e  00000001 000b 03 800000"));
    // Table 111: pcrUpdateCounter, pcrSelectionOut, pcrValues (TPML_DIGEST of TPM2B_DIGEST).
    let value = [0x5au8; 32];
    let mut resp = hex("8001 0000003e 00000000  0000002a  00000001 000b 03 800000  00000001 0020");
    resp.extend_from_slice(&value);
    let v = parse_pcr_read(&resp).unwrap();
    assert_eq!(v.update_counter, 42);
    assert_eq!(v.selection, sel);
    assert_eq!(v.values, [(Alg::Sha256.id(), 7, value.to_vec())]);
    assert_eq!(v.selection[0].to_string(), "sha256: 7");
    // Two banks, PCRs 0 and 7 of sha1 then 7 of sha256: values in that order.
    let sel =
        [PcrSelection { alg: Alg::Sha1.id(), pcrs: 1 | 1 << 7 }, PcrSelection { alg: Alg::Sha256.id(), pcrs: 1 << 7 }];
    assert_eq!(pcr_read(&sel).unwrap(), hex("8001 0000001a 0000017e 00000002 0004 03 810000 000b 03 800000"));
    let mut resp = hex("8001 00000070 00000000 00000001 00000002 0004 03 810000 000b 03 800000 00000003");
    for (n, b) in [(20u16, 1u8), (20, 2), (32, 3)] {
        resp.extend_from_slice(&n.to_be_bytes());
        resp.extend(std::iter::repeat_n(b, usize::from(n)));
    }
    let v = parse_pcr_read(&resp).unwrap();
    let got: Vec<(u16, u32, u8, usize)> = v.values.iter().map(|(a, p, d)| (*a, *p, d[0], d.len())).collect();
    assert_eq!(got, [(4, 0, 1, 20), (4, 7, 2, 20), (0xb, 7, 3, 32)]);
    assert!(pcr_read(&[PcrSelection { alg: 0xb, pcrs: 1 << 24 }]).is_err());
}

#[test]
fn pcr_extend_of_pcr_8_under_the_empty_password() {
    let d = [0xabu8; 32];
    // Part 3 §22.2, Table 100: tag TPM_ST_SESSIONS, size, TPM_CC_PCR_Extend, pcrHandle,
    // authorizationSize, TPMS_AUTH_COMMAND (TPM_RS_PW, empty nonce, attributes, empty hmac),
    // TPML_DIGEST_VALUES (count, then TPMT_HA: hashAlg and the digest, unsized).
    let mut want = hex("8002 00000041 00000182  00000008  00000009 40000009 0000 00 0000  00000001 000b");
    want.extend_from_slice(&d);
    assert_eq!(pcr_extend(8, &[(Alg::Sha256, &d)]).unwrap(), want);
    let s1 = [1u8; 20];
    let two = pcr_extend(8, &[(Alg::Sha1, &s1), (Alg::Sha256, &d)]).unwrap();
    assert_eq!(
        (two.len(), &two[2..6], &two[31..33]),
        (10 + 4 + 4 + 9 + 4 + 22 + 34, &[0, 0, 0, 0x57][..], &[0, 4][..])
    );
    // Table 101: header, parameterSize 0, TPMS_AUTH_RESPONSE (empty nonce, attributes, empty
    // hmac).
    assert_eq!(parse_pcr_extend(&hex("8002 00000013 00000000 00000000 0000 01 0000")), Ok(()));
    for (bad, why) in [
        (pcr_extend(24, &[(Alg::Sha256, &d)]), "PCR 24"),
        (pcr_extend(8, &[]), "0 digests"),
        (pcr_extend(8, &[(Alg::Sha256, &s1)]), "a sha256 digest of 20 bytes"),
    ] {
        assert!(bad.as_ref().is_err_and(|e| e.to_string().contains(why)), "{bad:?}");
    }
}

#[test]
fn refusals_say_what_the_tpm_means() {
    let rc = |code: u32| {
        let mut r = hex("8001 0000000a");
        r.extend_from_slice(&code.to_be_bytes());
        parse_pcr_read(&r).unwrap_err()
    };
    let e = rc(0x921);
    assert!(matches!(e, Error::Tpm(c) if c.is_lockout()));
    assert!(
        e.to_string().contains("dictionary-attack lockout") && e.to_string().contains("[TPM_RC_LOCKOUT, 0x921]"),
        "{e}"
    );
    // Format 1: TPM_RC_POLICY_FAIL on session 1 (0x99d), TPM_RC_BAD_AUTH on session 1 (0x9a2),
    // TPM_RC_VALUE on parameter 1 (0x1c4), TPM_RC_HANDLE on handle 1 (0x18b).
    for (code, words) in [
        (0x99d, "the PCRs are not what the disk was sealed to) [TPM_RC_POLICY_FAIL, session 1, 0x99d]"),
        (0x9a2, "a wrong PIN) [TPM_RC_BAD_AUTH, session 1, 0x9a2]"),
        (0x1c4, "out of range [TPM_RC_VALUE, parameter 1, 0x1c4]"),
        (0x18b, "not known [TPM_RC_HANDLE, handle 1, 0x18b]"),
        (0x100, "not started (TPM2_Startup) [TPM_RC_INITIALIZE, 0x100]"),
        (0x12f, "response code 0x12f [0x12f]"),
    ] {
        let e = rc(code).to_string();
        assert!(e.starts_with("the TPM refused: ") && e.contains(words), "{code:#x}: {e}");
    }
}

#[test]
fn hostile_responses_are_refused_with_what_is_wrong() {
    let good = hex("8001 0000001f 00000000 00 00000005 00000002 0004 03 ffffff 000b 03 ffffff");
    // Every truncation: the size field then disagrees, or the header is short.
    for n in 0..good.len() {
        let e = parse_get_capability(&good[..n]).unwrap_err();
        assert!(matches!(e, Error::Short { .. } | Error::Size { .. }), "{n}: {e}");
    }
    // A size field that matches a truncated body: the field that runs out is named.
    let mut cut = good[..good.len() - 2].to_vec();
    cut[5] = u8::try_from(cut.len()).unwrap();
    let e = parse_get_capability(&cut).unwrap_err();
    assert!(e.to_string().contains("a PCR bitmap needs 3 bytes"), "{e}");
    for (resp, why) in [
        // The size field lies.
        ("8001 00000020 00000000 00 00000005 00000000", "says it has 32 bytes, 19 arrived"),
        ("8001 ffffffff 00000000 00", "says it has 4294967295 bytes"),
        // A tag that is neither.
        ("c4c4 0000000f 00000000 00 00000005", "tag 0xc4c4"),
        // Counts that would allocate: refused before.
        ("8001 00000013 00000000 00 00000005 ffffffff", "4294967295 entries (at most 16)"),
        ("8001 00000013 00000000 00 00000006 00010000", "65536 entries (at most 512)"),
        ("8001 00000013 00000000 00 00000001 7fffffff", "2147483647 entries"),
        // A bitmap larger than any TPM's.
        ("8001 00000016 00000000 00 00000005 00000001 000b c8", "a PCR bitmap of 200 bytes"),
        // moreData not a boolean, an unknown capability, bytes after the end.
        ("8001 0000000f 00000000 07 00000005", "moreData is 7"),
        ("8001 0000000f 00000000 00 00000009", "capability 0x9"),
        ("8001 00000014 00000000 00 00000005 00000000 ff", "1 bytes after its last field"),
    ] {
        let e = parse_get_capability(&hex(resp)).unwrap_err().to_string();
        assert!(e.contains(why), "{resp}: {e}");
    }
    for (resp, why) in [
        // More digests than a PCR_Read returns; fewer than selected; a digest of the wrong size.
        ("8001 0000001c 00000000 00000001 00000001 000b 03 800000 00000009", "9 entries (at most 8)"),
        ("8001 0000001c 00000000 00000001 00000001 000b 03 810000 00000001", "1 digests for 2 PCRs"),
        (
            "8001 00000020 00000000 00000001 00000001 000b 03 800000 00000001 0002 abcd",
            "PCR 7 of the sha256 bank has 2 bytes",
        ),
        ("8001 00000020 00000000 00000001 00000001 000b 03 800000 00000001 ffff abcd", "65535 bytes (at most 64)"),
        ("8002 00000016 00000000 00000001 00000000 00000000", "with sessions"),
    ] {
        let e = parse_pcr_read(&hex(resp)).unwrap_err().to_string();
        assert!(e.contains(why), "{resp}: {e}");
    }
    for (resp, why) in [
        ("8001 00000013 00000000 00000000 0000 01 0000", "without its session"),
        ("8002 00000017 00000000 00000004 00000000 0000 01 0000", "4 bytes of parameters"),
        ("8002 00000015 00000000 00000000 0002 abcd 01 0000", "a 2-byte nonce"),
    ] {
        let e = parse_pcr_extend(&hex(resp)).unwrap_err().to_string();
        assert!(e.contains(why), "{resp}: {e}");
    }
    let huge = vec![0u8; MAX_RESPONSE + 1];
    assert!(parse_pcr_read(&huge).unwrap_err().to_string().contains("at most 4096"));
}

/// Random flips and truncations of good responses (size fields fixed up so the body is reached):
/// every parser answers, none panics.
#[test]
fn mutated_responses_never_panic() {
    let mut pcr = hex("8001 0000003e 00000000 0000002a 00000001 000b 03 800000 00000001 0020");
    pcr.extend_from_slice(&[7; 32]);
    let seeds = [
        hex("8001 0000001f 00000000 00 00000005 00000002 0004 03 ffffff 000b 03 ffffff"),
        hex("8001 00000023 00000000 00 00000006 00000002 00000105 49424d00 00000112 00000018"),
        pcr,
        hex("8002 00000013 00000000 00000000 0000 01 0000"),
    ];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        usize::try_from(x >> 40).unwrap()
    };
    for round in 0..20_000 {
        let mut d = seeds[round % seeds.len()].clone();
        for _ in 0..(next() % 4 + 1) {
            let i = next() % d.len();
            d[i] = next().to_le_bytes()[0];
        }
        d.truncate(6 + next() % d.len());
        if d.len() >= 6 && round % 3 != 0 {
            let n = u32::try_from(d.len()).unwrap().to_be_bytes();
            d[2..6].copy_from_slice(&n);
        }
        fuzz_one(&d);
    }
}
