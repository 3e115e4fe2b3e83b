# frozen_string_literal: true
# `require 'fastfilereaderext'`: EventMachine's file reader, in Ruby.
#
# EventMachine ships this as a C++ extension that mmaps the file. em_rust reads
# with pread(2) on a descriptor it keeps open, which gives the same answers
# without a mapping (so a file shrinking under it cannot SIGBUS the process).
# The API is EventMachine's: FastFileReader::Mapper.new(path) with #size,
# #get_chunk(offset, length) and #close. Where EventMachine aborts the process
# (a missing file, a directory, an empty file, a negative offset) em_rust
# raises instead: Errno::* for the file, "Mapper Range Error" for the range.
# em_rust adds FastFileReader.read(path) (the whole file) and the alias
# FastFileReader::Map.
module EventMachine
  class FastFileReader
    # Reads all of `path` as a binary String.
    def self.read(path)
      mapper = Mapper.new(path)
      begin
        mapper.get_chunk(0, mapper.size)
      ensure
        mapper.close
      end
    end

    # A read-only view of one file: its size as of opening, and byte ranges of it.
    class Mapper
      # Offsets and lengths are C ints in EventMachine; larger ones are a RangeError.
      INT_MAX = (2**31) - 1
      private_constant :INT_MAX

      # Opens `path` (a String, as in EventMachine: no implicit Pathname). Raises
      # Errno::ENOENT, Errno::EACCES, Errno::EISDIR, ... when it cannot be read.
      def initialize(path)
        raise TypeError, "no implicit conversion of #{path.nil? ? 'nil' : path.class} into String" unless path.respond_to?(:to_str)

        @path = path.to_str
        @file = File.open(@path, File::RDONLY | File::BINARY)
        begin
          stat = @file.stat
          raise Errno::EISDIR, @path if stat.directory?
          raise Errno::ENODEV, @path unless stat.file?

          @size = stat.size
        rescue StandardError
          @file.close
          raise
        end
      end

      # The file's size in bytes when it was opened (also after #close).
      attr_reader :size

      # `length` bytes from `offset`, as a new binary String. The range must lie
      # within the file (offset + length <= size); after #close this raises.
      def get_chunk(offset, length)
        offset = c_int(offset)
        length = c_int(length)
        raise StandardError, "No Mapper Chunk" unless @file
        raise StandardError, "Mapper Range Error" if offset.negative? || length.negative? || offset + length > @size

        return "".b if length.zero?

        chunk = @file.pread(length, offset)
        chunk << @file.pread(length - chunk.bytesize, offset + chunk.bytesize) while chunk.bytesize < length
        chunk
      rescue EOFError
        # The file shrank since it was opened: what is left of the range.
        chunk || "".b
      end

      def inspect = format("#<%s:0x%016x>", self.class, object_id)

      # Releases the file. Idempotent; returns nil.
      def close
        @file&.close
        @file = nil
      end

      private

      def c_int(value)
        n = Integer === value ? value : Integer(value.is_a?(Float) ? value.truncate : value.to_int)
        raise RangeError, "integer #{n} too #{n.negative? ? 'small' : 'big'} to convert to `int'" if n > INT_MAX || n < -INT_MAX - 1

        n
      rescue NoMethodError
        raise TypeError, value.nil? ? "no implicit conversion from nil to integer" : "no implicit conversion of #{value.class} into Integer"
      end
    end

    # em_rust's shorter name for Mapper.
    Map = Mapper
  end
end
