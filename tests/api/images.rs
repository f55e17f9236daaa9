use profilebox::images::Placement;
use serde_json::{json, Value};

use crate::bombs;
use crate::support::{
    decode_jpeg, encode, jpeg, multipart, path_of, picture, png, TestApp, PASSWORD,
};

/// A JPEG whose EXIF says "rotate 90° clockwise" and carries a GPS position.
fn jpeg_with_exif_gps(width: u32, height: u32) -> Vec<u8> {
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    // IFD0: Orientation = 6, GPSInfo -> offset 38.
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
    tiff.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0]);
    tiff.extend_from_slice(&38u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD: GPSLatitudeRef = "N", GPSLatitude would follow in a real camera file.
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&[0x01, 0x00, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let base = jpeg(width, height);
    let mut out = base[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&base[2..]);
    out
}

#[rocket::async_test]
async fn uploading_stores_a_jpeg_and_answers_with_its_urls() {
    let app = TestApp::new().await;
    let (user, token) = app.user("alice").await;
    let reply = app.upload(&token, "file", &png(1024, 768)).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Profile image uploaded");
    let url = reply.body["profile_image"].as_str().unwrap();
    assert_eq!(reply.body["image_url"], url);
    let filename = reply.body["filename"].as_str().unwrap();
    assert_eq!(
        url,
        format!("http://localhost:8000/profile_images/{filename}")
    );
    assert!(filename.starts_with(&format!("{}-", user["id"])));
    assert_eq!(
        app.get("/api/user/profile", Some(&token)).await.body["profile_image"],
        url
    );

    let served = app.get(&path_of(url), None).await;
    assert_eq!(served.status.code, 200);
    assert_eq!(served.header("content-type"), Some("image/jpeg"));
    assert_eq!(served.header("x-content-type-options"), Some("nosniff"));
    assert!(served.header("cache-control").is_some());
    let img = decode_jpeg(&served.bytes);
    assert_eq!((img.width(), img.height()), (512, 384));
}

#[rocket::async_test]
async fn the_first_file_part_is_taken_whatever_its_field_name() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    for field in ["image", "profile_image", "avatar", "whatever"] {
        let reply = app.upload(&token, field, &jpeg(64, 64)).await;
        assert_eq!(reply.status.code, 200, "{field}: {}", reply.body);
    }
}

#[rocket::async_test]
async fn a_new_upload_replaces_and_removes_the_old_file() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let first = app.upload(&token, "file", &jpeg(64, 64)).await.body;
    let second = app.upload(&token, "file", &jpeg(80, 64)).await.body;
    assert_ne!(first["filename"], second["filename"]);
    assert_eq!(
        app.stored_pictures().await,
        vec![second["filename"].as_str().unwrap().to_string()]
    );
    let old = app
        .get(&path_of(first["profile_image"].as_str().unwrap()), None)
        .await;
    old.assert_error(404, "not_found");
}

#[rocket::async_test]
async fn exif_orientation_is_applied_and_all_metadata_dropped() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let original = jpeg_with_exif_gps(800, 400);
    assert!(original.windows(4).any(|w| w == b"Exif"));
    let reply = app.upload(&token, "file", &original).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    let served = app
        .get(&path_of(reply.body["image_url"].as_str().unwrap()), None)
        .await;
    let img = decode_jpeg(&served.bytes);
    assert_eq!(
        (img.width(), img.height()),
        (256, 512),
        "rotated upright, then fitted"
    );
    assert!(
        !served.bytes.windows(4).any(|w| w == b"Exif"),
        "EXIF survived"
    );
    assert!(
        !served.bytes.windows(2).any(|w| w == [0xFF, 0xE1]),
        "an APP1 segment survived"
    );
}

#[rocket::async_test]
async fn webp_and_gif_are_accepted_and_transcoded() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let rgba = image::DynamicImage::ImageRgb8(picture(50, 40)).to_rgba8();
    let mut webp = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(rgba)
        .write_to(&mut webp, image::ImageFormat::WebP)
        .unwrap();
    for bytes in [
        webp.into_inner(),
        encode(&picture(50, 40), image::ImageFormat::Gif),
    ] {
        let reply = app.upload(&token, "file", &bytes).await;
        assert_eq!(reply.status.code, 200, "{}", reply.body);
        let served = app
            .get(&path_of(reply.body["image_url"].as_str().unwrap()), None)
            .await;
        let img = decode_jpeg(&served.bytes);
        assert_eq!((img.width(), img.height()), (50, 40));
    }
}

#[rocket::async_test]
async fn files_that_are_not_supported_images_are_400_invalid_image() {
    let app = TestApp::new().await;
    let (user, token) = app.user("alice").await;
    let full = jpeg(600, 400);
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>"#;
    let bmp = b"BM\x3e\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0".to_vec();
    for bytes in [
        b"just some text".to_vec(),
        b"<html><body>hi</body></html>".to_vec(),
        svg.to_vec(),
        bmp,
        full[..full.len() / 2].to_vec(),
        Vec::new(),
    ] {
        app.upload(&token, "file", &bytes)
            .await
            .assert_error(400, "invalid_image");
    }
    assert!(app.stored_pictures().await.is_empty());
    assert_eq!(app.get("/api/user/profile", Some(&token)).await.body, user);
}

#[rocket::async_test]
async fn a_decompression_bomb_is_refused_from_its_header() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let bomb = bombs::png_header_only(20_000, 20_000);
    assert!(bomb.len() < 100);
    let reply = app.upload(&token, "file", &bomb).await;
    reply.assert_error(400, "image_too_large");
    assert!(reply.body["error"]
        .as_str()
        .unwrap()
        .contains("20000x20000"));
}

#[rocket::async_test]
async fn bodies_over_the_upload_limit_are_413() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let big = vec![0xAB; 11 << 20];
    app.upload(&token, "file", &big)
        .await
        .assert_error(413, "payload_too_large");
}

#[rocket::async_test]
async fn the_upload_limit_is_configurable() {
    let app = TestApp::with(|f| f.merge(("max_upload_size", "64 KiB"))).await;
    let (_, token) = app.user("alice").await;
    let noisy = image::RgbImage::from_fn(300, 300, |x, y| {
        image::Rgb([
            (x * 7919 % 251) as u8,
            (y * 104729 % 241) as u8,
            ((x ^ y) * 31 % 256) as u8,
        ])
    });
    let big = encode(&noisy, image::ImageFormat::Png);
    assert!(big.len() > 64 << 10);
    app.upload(&token, "file", &big)
        .await
        .assert_error(413, "payload_too_large");
    assert_eq!(
        app.upload(&token, "file", &jpeg(32, 32)).await.status.code,
        200
    );
}

#[rocket::async_test]
async fn uploads_need_a_token_and_a_multipart_file() {
    let app = TestApp::new().await;
    let (content_type, body) = multipart("file", "a.jpg", &jpeg(10, 10));
    let reply = app
        .send(
            rocket::http::Method::Post,
            "/api/upload_profile_image",
            None,
            Some(body),
            Some(content_type),
        )
        .await;
    reply.assert_error(401, "unauthorized");
    let (_, token) = app.user("alice").await;
    let reply = app
        .post_auth("/api/upload_profile_image", &token, json!({ "image": "x" }))
        .await;
    reply.assert_error(400, "missing_file");
    let boundary = "b0undary";
    let only_text = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nhi\r\n--{boundary}--\r\n");
    let ct = rocket::http::ContentType::new("multipart", "form-data")
        .with_params(("boundary", boundary));
    let reply = app
        .send(
            rocket::http::Method::Post,
            "/api/upload_profile_image",
            Some(&token),
            Some(only_text.into_bytes()),
            Some(ct),
        )
        .await;
    reply.assert_error(400, "missing_file");
}

#[rocket::async_test]
async fn served_images_revalidate_with_their_etag() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let url = app.upload(&token, "file", &jpeg(64, 64)).await.body["image_url"]
        .as_str()
        .unwrap()
        .to_string();
    let first = app.get(&path_of(&url), None).await;
    let etag = first.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    let again = app
        .get_with(&path_of(&url), &[("If-None-Match", &etag)])
        .await;
    assert_eq!(again.status.code, 304);
    assert!(again.bytes.is_empty());
    let other = app
        .get_with(&path_of(&url), &[("If-None-Match", "\"other\"")])
        .await;
    assert_eq!(other.status.code, 200);
}

#[rocket::async_test]
async fn unknown_and_traversal_file_names_are_404() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    app.upload(&token, "file", &jpeg(64, 64)).await;
    for path in [
        "/profile_images/1-0123456789abcdef.jpg",
        "/profile_images/..%2Fjwt_secret",
        "/profile_images/%2e%2e%2fprofilebox.db",
        "/profile_images/../jwt_secret",
        "/profile_images/jwt_secret",
        "/profile_images/",
        // Paths that are no file paths at all: still an unknown file, not a bad request.
        "/profile_images/../.env",
        "/profile_images/.../x",
        "/profile_images/a/..%2F..%2Fetc%2Fpasswd",
        "/profile_images/x/*",
        "/profile_images/x/c:",
    ] {
        let reply = app.get(path, None).await;
        reply.assert_error(404, "not_found");
    }
}

#[rocket::async_test]
async fn a_url_or_null_replaces_an_uploaded_picture_and_removes_its_file() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    app.upload(&token, "file", &jpeg(64, 64)).await;
    let reply = app
        .put(
            "/api/user/profile",
            &token,
            json!({ "profile_image": "https://example.org/a.png" }),
        )
        .await;
    assert_eq!(
        reply.body["user"]["profile_image"],
        "https://example.org/a.png"
    );
    assert!(app.stored_pictures().await.is_empty());
    app.upload(&token, "file", &jpeg(64, 64)).await;
    let reply = app
        .put(
            "/api/user/profile",
            &token,
            json!({ "profile_image": null }),
        )
        .await;
    assert_eq!(reply.body["user"]["profile_image"], Value::Null);
    assert!(app.stored_pictures().await.is_empty());
}

#[rocket::async_test]
async fn a_base64_image_wins_over_a_url_in_the_same_update() {
    use base64::Engine;
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let image = base64::engine::general_purpose::STANDARD.encode(jpeg(20, 20));
    let reply = app
        .put(
            "/api/user/profile",
            &token,
            json!({ "profile_image": "https://example.org/a.png", "image": image }),
        )
        .await;
    let url = reply.body["user"]["profile_image"].as_str().unwrap();
    assert!(
        url.starts_with("http://localhost:8000/profile_images/"),
        "{url}"
    );
    assert_eq!(app.stored_pictures().await.len(), 1);
}

#[rocket::async_test]
async fn an_image_over_the_pixel_budget_is_refused_from_its_header_even_without_an_account() {
    use base64::Engine;
    let app = TestApp::new().await;
    // 7100x7100 is within the 8000-pixel side limit but over the 50-megapixel budget.
    let bomb = bombs::png_header_only(7100, 7100);
    let reply = app
        .post(
            "/api/register",
            json!({ "username": "mallory", "password": PASSWORD, "image": base64::engine::general_purpose::STANDARD.encode(&bomb) }),
        )
        .await;
    reply.assert_error(400, "image_too_large");
    assert!(reply.body["error"].as_str().unwrap().contains("megapixels"));
    assert_eq!(
        app.post(
            "/api/login",
            json!({ "username": "mallory", "password": PASSWORD })
        )
        .await
        .status
        .code,
        401,
        "a refused picture registers nobody"
    );
}

#[rocket::async_test]
async fn max_image_pixels_is_configurable() {
    let app = TestApp::with(|figment| figment.merge(("max_image_pixels", 20_000))).await;
    let (_, token) = app.user("alice").await;
    assert_eq!(
        app.upload(&token, "file", &png(200, 100)).await.status.code,
        200
    );
    app.upload(&token, "file", &png(201, 100))
        .await
        .assert_error(400, "image_too_large");
}

#[rocket::async_test]
async fn a_colour_profile_bomb_is_skipped_unread() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    // A 16-bit picture whose iCCP chunk inflates to 300 MB: more than any decoding budget, so
    // it is accepted only if the profile is never inflated.
    let bomb = bombs::png_rgba(64, 48, 16, 300 << 20);
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let reply = app.upload(&token, "file", &bomb).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    let picture = app.stored_picture(&reply).await;
    assert_eq!(picture.dimensions(), (64, 48));
    // Transparent black flattens onto white.
    assert!(picture.pixels().all(|p| p.0.iter().all(|&c| c > 240)));
}

#[rocket::async_test]
async fn sixteen_bit_grey_pngs_become_an_rgb_picture() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let grey =
        image::ImageBuffer::<image::Luma<u16>, _>::from_fn(40, 30, |_, _| image::Luma([0x8080u16]));
    let mut grey_png = Vec::new();
    image::DynamicImage::ImageLuma16(grey)
        .write_to(
            &mut std::io::Cursor::new(&mut grey_png),
            image::ImageFormat::Png,
        )
        .unwrap();
    let reply = app.upload(&token, "file", &grey_png).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    let picture = app.stored_picture(&reply).await;
    assert_eq!(picture.dimensions(), (40, 30));
    assert!(picture
        .pixels()
        .all(|p| p.0.iter().all(|&c| c.abs_diff(0x80) <= 2)));
}

#[rocket::async_test]
async fn a_gif_frame_larger_than_its_screen_is_refused_without_allocating_it() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    app.upload(&token, "file", &bombs::gif((8000, 8000), (1, 1)))
        .await
        .assert_error(400, "image_too_large");
    // A small screen claiming a huge first frame: refused while decoding, within the budget of
    // the small screen.
    app.upload(&token, "file", &bombs::gif((100, 100), (8000, 8000)))
        .await
        .assert_error(400, "invalid_image");
    let small = app
        .upload(&token, "file", &bombs::gif((2, 2), (1, 1)))
        .await;
    assert_eq!(small.status.code, 200, "{}", small.body);
}

async fn move_images(app: &TestApp, to: Placement) -> String {
    profilebox::commands::move_images(&app.figment(), to)
        .await
        .unwrap()
}

/// Where the app put its pictures: the folder's files and the database's rows.
async fn placement_of(app: &TestApp) -> (usize, usize) {
    let rows = app.sql_rows("SELECT name FROM images").await;
    (app.pictures_in_folder().len(), rows.len())
}

#[rocket::async_test]
async fn pictures_are_stored_where_image_store_says_and_served_alike() {
    let default = TestApp::new().await;
    let (_, token) = default.user("alice").await;
    let reply = default.upload(&token, "file", &jpeg(64, 64)).await;
    let served = default
        .get(&path_of(reply.body["image_url"].as_str().unwrap()), None)
        .await;
    assert_eq!(served.status.code, 200);
    // The default: in the folder with SQLite, in the database on a server that several
    // instances share.
    let expected = if default.database.is_some() {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(placement_of(&default).await, expected);

    for (setting, expected) in [("local", (1, 0)), ("database", (0, 1))] {
        let app = TestApp::with(|figment| figment.merge(("image_store", setting))).await;
        let (_, token) = app.user("alice").await;
        let reply = app.upload(&token, "file", &png(300, 200)).await;
        assert_eq!(reply.status.code, 200, "{setting}: {}", reply.body);
        assert_eq!(placement_of(&app).await, expected, "{setting}");
        let url = path_of(reply.body["image_url"].as_str().unwrap());
        let served = app.get(&url, None).await;
        assert_eq!(served.status.code, 200, "{setting}");
        assert_eq!(
            served.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(decode_jpeg(&served.bytes).width(), 300);
        // A second read comes from the cache, and is the same picture.
        assert_eq!(app.get(&url, None).await.bytes, served.bytes, "{setting}");
        // A replaced picture is gone from where it was, and no longer served.
        let replaced = app.upload(&token, "file", &jpeg(32, 32)).await;
        assert_eq!(placement_of(&app).await, expected, "{setting}");
        app.get(&url, None).await.assert_error(404, "not_found");
        let new_url = path_of(replaced.body["image_url"].as_str().unwrap());
        // Clearing the picture removes it too.
        let cleared = app
            .put(
                "/api/user/profile",
                &token,
                json!({ "profile_image": null }),
            )
            .await;
        assert_eq!(cleared.status.code, 200, "{}", cleared.body);
        assert_eq!(placement_of(&app).await, (0, 0), "{setting}");
        app.get(&new_url, None).await.assert_error(404, "not_found");
    }
}

#[rocket::async_test]
async fn changing_image_store_strands_no_picture_and_move_images_moves_them_both_ways() {
    let local = TestApp::with(|figment| figment.merge(("image_store", "local"))).await;
    let (_, alice) = local.user("alice").await;
    let alice_url = local.upload(&alice, "file", &png(120, 80)).await.body["image_url"]
        .as_str()
        .unwrap()
        .to_string();
    let alice_bytes = local.get(&path_of(&alice_url), None).await.bytes;

    // Switched to the database: alice's picture is still served from the folder, bob's goes
    // into the database.
    let app = local
        .restart(|figment| figment.merge(("image_store", "database")))
        .await;
    assert_eq!(app.get(&path_of(&alice_url), None).await.bytes, alice_bytes);
    let (_, bob) = app.user("bob").await;
    let bob_url = app.upload(&bob, "file", &png(90, 60)).await.body["image_url"]
        .as_str()
        .unwrap()
        .to_string();
    let bob_bytes = app.get(&path_of(&bob_url), None).await.bytes;
    assert_eq!(placement_of(&app).await, (1, 1));

    let into_database = move_images(&app, Placement::Database).await;
    assert!(
        into_database.starts_with("moved 1 pictures into the database; 1 were there already"),
        "{into_database}"
    );
    assert_eq!(placement_of(&app).await, (0, 2));
    let again = move_images(&app, Placement::Database).await;
    assert!(again.starts_with("moved 0 pictures"), "{again}");

    let into_folder = move_images(&app, Placement::Local).await;
    assert!(
        into_folder.starts_with("moved 2 pictures into the folder"),
        "{into_folder}"
    );
    assert_eq!(placement_of(&app).await, (2, 0));
    // Served all along, the same bytes wherever they are.
    let fresh = app.restart(|figment| figment).await;
    assert_eq!(
        fresh.get(&path_of(&alice_url), None).await.bytes,
        alice_bytes
    );
    assert_eq!(fresh.get(&path_of(&bob_url), None).await.bytes, bob_bytes);

    // A picture that neither place holds is reported, and nothing else changes.
    let name = bob_url.rsplit('/').next().unwrap();
    std::fs::remove_file(fresh.dir.path().join("images").join(name)).unwrap();
    let report = move_images(&fresh, Placement::Database).await;
    assert!(
        report.ends_with(&format!(
            "1 pictures are in neither place and stay missing: {name}"
        )),
        "{report}"
    );
    assert_eq!(placement_of(&fresh).await, (0, 1));
}
