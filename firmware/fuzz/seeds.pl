#!/usr/bin/perl
# Writes each message of vectors.txt to its own file in DIR, as fuzz seeds.
# Usage: seeds.pl VECTORS DIR
use strict;
use warnings;
my ($vectors, $dir) = @ARGV;
open(my $in, "<", $vectors) or die "open $vectors: $!";
my (%hex, $name);
while (<$in>) {
    if (/^vector (\S+)/) { $name = $1; $hex{$name} = ""; }
    elsif (/^hex (\S+)/ && defined $name) { $hex{$name} .= $1; }
}
for my $n (keys %hex) {
    open(my $out, ">", "$dir/$n") or die "write $dir/$n: $!";
    binmode $out;
    print $out pack("H*", $hex{$n});
    close $out;
}
