//! The CIFAR-10 reader on a small exact fixture (the first 16 records of the official
//! `test_batch.bin`) and the other data sources.

use std::path::Path;

use aec::data::{parse_cifar, Dataset, CIFAR_RECORD};

const FIXTURE: &str = "tests/fixtures/cifar-test-16.bin";

#[test]
fn reads_the_exact_pixels_and_labels_of_known_records() {
    let set = Dataset::load(Path::new(FIXTURE)).unwrap();
    assert_eq!(set.len(), 16);
    // The official test set begins cat, ship, ship, airplane, frog, frog, automobile, frog, ...
    assert_eq!(set.labels, [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8]);
    // The first cat's top-left pixel is (158, 112, 49), as every CIFAR-10 loader shows it.
    let cat = set.tile(0);
    assert_eq!((cat[0], cat[1024], cat[2048]), (158, 112, 49));
    // Records are copied whole: the last record's bytes are the file's last 3,072 bytes.
    let bytes = std::fs::read(FIXTURE).unwrap();
    assert_eq!(set.tile(15), &bytes[15 * CIFAR_RECORD + 1..]);
}

#[test]
fn rejects_files_that_are_not_whole_records() {
    let bytes = std::fs::read(FIXTURE).unwrap();
    for len in [1, CIFAR_RECORD - 1, CIFAR_RECORD + 1, bytes.len() - 5] {
        let err = parse_cifar(Path::new("cut.bin"), &bytes[..len])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cut.bin") && err.contains(&format!("{len} bytes")),
            "{err}"
        );
    }
}

#[test]
fn reads_folders_of_images_and_lists_and_reports_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_fn(64, 40, |x, y| image::Rgb([x as u8, y as u8, 3]));
    img.save(dir.path().join("b.png")).unwrap();
    image::RgbImage::from_pixel(32, 32, image::Rgb([9, 9, 9]))
        .save(dir.path().join("a.png"))
        .unwrap();
    image::RgbImage::from_pixel(8, 8, image::Rgb([1, 1, 1]))
        .save(dir.path().join("small.png"))
        .unwrap();
    std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
    let set = Dataset::load(dir.path()).unwrap();
    // a.png (1 tile) then b.png (2 whole tiles of 64×40), in path order.
    assert_eq!(set.len(), 3);
    assert_eq!(set.tile(0)[0], 9);
    assert_eq!(set.tile(2)[5], 37);
    let skipped: Vec<String> = set
        .skipped
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(skipped, ["broken.png", "small.png"]);

    std::fs::write(dir.path().join("list.txt"), "b.png 0\na.png 1\n").unwrap();
    let listed = Dataset::load(&dir.path().join("list.txt")).unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed.tile(2)[0], 9, "list order is kept");
    std::fs::write(dir.path().join("bad.txt"), "a.png\nmissing.png\n").unwrap();
    let err = Dataset::load(&dir.path().join("bad.txt"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.txt:2") && err.contains("missing.png"),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    let err = Dataset::load(empty.path()).unwrap_err().to_string();
    assert!(err.contains("no usable images"), "{err}");
}

/// A folder with symbolic links back to itself and to its parent: the walk ends, finds each
/// image once, and notes each loop it skipped by the link's path.
#[cfg(unix)]
#[test]
fn folder_walk_skips_symlink_loops() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("images");
    let sub = root.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    image::RgbImage::from_pixel(32, 32, image::Rgb([1, 1, 1]))
        .save(root.join("a.png"))
        .unwrap();
    image::RgbImage::from_pixel(32, 32, image::Rgb([2, 2, 2]))
        .save(sub.join("b.png"))
        .unwrap();
    // Two loops: each walk through one meets the other, so following them blindly branches
    // until the path is too long to resolve.
    symlink("..", sub.join("up")).unwrap();
    symlink(".", root.join("self")).unwrap();
    // A link to a folder outside is followed as before.
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    image::RgbImage::from_pixel(32, 32, image::Rgb([3, 3, 3]))
        .save(outside.join("c.png"))
        .unwrap();
    symlink(&outside, sub.join("z-outside")).unwrap();
    // A link to nothing is an unreadable image, as before.
    symlink("missing.png", root.join("dangling.png")).unwrap();

    let (tx, rx) = std::sync::mpsc::channel();
    let walked = root.clone();
    std::thread::spawn(move || tx.send(Dataset::load(&walked)).unwrap());
    let set = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the walk did not finish within two minutes")
        .unwrap();
    // a.png, sub/b.png, sub/z-outside/c.png, each once, in path order.
    assert_eq!(set.len(), 3);
    let firsts: Vec<u8> = (0..3).map(|i| set.tile(i)[0]).collect();
    assert_eq!(firsts, [1, 2, 3]);
    let noted: Vec<(&Path, &str)> = set
        .skipped
        .iter()
        .map(|s| (s.path.as_path(), s.reason.as_str()))
        .collect();
    // The unreadable file first, then the loops, each in path order.
    assert_eq!(noted.len(), 3, "{noted:?}");
    assert_eq!(noted[0].0, root.join("dangling.png"));
    assert_eq!(noted[1].0, root.join("self"));
    assert_eq!(noted[2].0, sub.join("up"));
    assert!(
        noted[1..].iter().all(|(_, r)| r.contains("loop")),
        "{noted:?}"
    );
}
