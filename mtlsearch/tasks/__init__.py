"""Task sets beyond the dataset's own labels: CO-TASK auxiliary tasks (:mod:`.cotask`)."""
